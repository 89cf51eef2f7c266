"""The ``%zingy_apikey`` grammar: a table of cell sources in and out.

A line holding a refused token that could be a secret loses every token the grammar does
not accept; a line it accepts, one whose refused tokens are plain words, and every
other line, stays byte-identical. The tokens that must go are made-up secrets.
"""

from __future__ import annotations

import pytest

from zingy_nb.server.magic_line import ARITY, COMMANDS, clean_line, clean_source

TOKEN = "sk_live_51HmadeupmadeupXYZ"  # looks like a name: only arity drops it
PASTED = "sk_live_51H/made+up=="  # not a name, nor a variable name

UNCHANGED = [
    "%zingy_apikey",
    "%zingy_apikey?",
    "%zingy_apikey??",
    "%zingy_apikey set stripe",
    "%zingy_apikey  set   stripe  ",
    "%zingy_apikey update stripe",
    "%zingy_apikey list",
    "%zingy_apikey show svc.prod_2",
    "%zingy_apikey rename old new",
    "%zingy_apikey delete stripe",
    "%zingy_apikey flow",
    "%zingy_apikey flow cloud-flow",
    "%zingy_apikey flow page-flow",
    "%zingy_apikey retrieve stripe",
    "%zingy_apikey panel",
    "%zingy_apikey set stripe --from-env STRIPE_KEY - HOOK_SECRET",
    "%zingy_apikey set stripe --from-env A B C D",
    "%zingy_apikey set --from-env A B stripe",  # argparse reads stripe as a 3rd variable
    "%zingy_apikey set stripe --from-env=STRIPE_KEY",
    "%zingy_apikey set ssh --from-file secret2=~/.ssh/id_ed25519 --from-file secret1=k.txt",
    "%zingy_apikey set ssh --from-file=secret2=/tmp/k",
    "%zingy_apikey set ssh --from-file 'secret2=/tmp/my key'",
    "%zingy_apikey update stripe --clear secret2 --clear=secret4",
    "    %zingy_apikey list",
    "\t%zingy_apikey show stripe",
    "info = %zingy_apikey retrieve stripe",
    "zingy_apikey list",
    "zingy_apikey set stripe",
    "zingy_apikey = 'not a magic line' + TOKEN",
    "print('%zingy_apikey set stripe " + TOKEN + "')",
    "s = '%zingy_apikey set stripe " + TOKEN + "'",
    "%%zingy_apikey set stripe " + TOKEN,
    "%zingy_apikeys set stripe " + TOKEN,
    "# %zingy_apikey is the magic",
    "x = 1",
    "",
]

#: Lines the magic refuses, but with nothing on them that could be a secret: a typo is
#: the user's to fix, so saving keeps them as typed.
HARMLESS = [
    '%zingy_apikey show "my service"',
    "%zingy_apikey show 'my service'",
    "%zingy_apikey set my service",
    "%zingy_apikey delete My Service",
    "%zingy_apikey show 'my service",  # cannot be split
    "%zingy_apikey list  # every profile",
    "%zingy_apikey rename old-name new-name extra",
    "%zingy_apikey update stripe --clear secret1",
    "%zingy_apikey set s --from-env A B C D E",
    "%zingy_apikey set s --from-env A B C D STRIPE_KEY",
    "%zingy_apikey set s --from-file secret1=",
    "%zingy_apikey set s --from-file",
    "%zingy_apikey set s --from-file --clear secret2",
    "%zingy_apikey set s --secret",
    "%zingy_apikey lst",
    "zingy_apikey show my service",
]

CHANGED = [
    (f"%zingy_apikey set stripe {TOKEN}", "%zingy_apikey set stripe"),
    (f"%zingy_apikey set stripe {PASTED}", "%zingy_apikey set stripe"),
    (f"%zingy_apikey set stripe={TOKEN}", "%zingy_apikey set"),
    (f"%zingy_apikey set {PASTED} stripe", "%zingy_apikey set stripe"),
    (f"%zingy_apikey update {PASTED}", "%zingy_apikey update"),
    (f"%zingy_apikey retrieve {PASTED}", "%zingy_apikey retrieve"),
    (f"%zingy_apikey retrieve stripe {TOKEN}", "%zingy_apikey retrieve stripe"),
    (f"%zingy_apikey list {TOKEN}", "%zingy_apikey list"),
    (f"%zingy_apikey panel {TOKEN}", "%zingy_apikey panel"),
    (f"%zingy_apikey rename a b {TOKEN}", "%zingy_apikey rename a b"),
    (f"%zingy_apikey flow {TOKEN}", "%zingy_apikey flow"),
    (f"%zingy_apikey flow cloud-flow {TOKEN}", "%zingy_apikey flow cloud-flow"),
    (f"%zingy_apikey {TOKEN}", "%zingy_apikey"),
    (f"%zingy_apikey {TOKEN} stripe", "%zingy_apikey"),
    (f"%zingy_apikey update stripe --clear {TOKEN}", "%zingy_apikey update stripe"),
    (f"%zingy_apikey update stripe --clear={TOKEN}", "%zingy_apikey update stripe"),
    (
        f"%zingy_apikey update stripe --clear secret2 {TOKEN}",
        "%zingy_apikey update stripe --clear secret2",
    ),
    (f"%zingy_apikey set stripe --from-env {PASTED}", "%zingy_apikey set stripe"),
    (f"%zingy_apikey set stripe --from-env=2{TOKEN}", "%zingy_apikey set stripe"),
    (f"%zingy_apikey set s --from-env A {PASTED} B", "%zingy_apikey set s --from-env A B"),
    (f"%zingy_apikey set s --from-file {PASTED}", "%zingy_apikey set s"),
    (f"%zingy_apikey set s --from-file secret9={TOKEN}", "%zingy_apikey set s"),
    (f"%zingy_apikey set s --secret {TOKEN}", "%zingy_apikey set s"),
    (f"%zingy_apikey set s -k {PASTED}", "%zingy_apikey set s"),
    (f"%zingy_apikey set s --cle secret2 {TOKEN}", "%zingy_apikey set s"),
    (f"%zingy_apikey set s  # {TOKEN}", "%zingy_apikey set s"),
    (f"%zingy_apikey set stripe '{TOKEN}", "%zingy_apikey set"),  # cannot be split
    (f"%zingy_apikey '{TOKEN}", "%zingy_apikey"),
    (f'%zingy_apikey set stripe "{PASTED} with spaces"', "%zingy_apikey set stripe"),
    (
        f"%zingy_apikey set s --from-file 'secret2=/tmp/my key' {TOKEN}",
        "%zingy_apikey set s --from-file 'secret2=/tmp/my key'",
    ),
    (f"    %zingy_apikey set stripe {TOKEN}", "    %zingy_apikey set stripe"),
    (f"info = %zingy_apikey retrieve {PASTED}", "info = %zingy_apikey retrieve"),
    (f"zingy_apikey set stripe {TOKEN}", "zingy_apikey set stripe"),
    (f"zingy_apikey update stripe --from-env {PASTED}", "zingy_apikey update stripe"),
    # a refused token that could be a secret: the line is cut as above, typos and all
    ("%zingy_apikey set stripe hunter2", "%zingy_apikey set stripe"),
    ("%zingy_apikey set stripe CorrectHorse", "%zingy_apikey set stripe"),
    ("%zingy_apikey set stripe correcthorsebatterystaple", "%zingy_apikey set stripe"),
    (f'%zingy_apikey show "my service" {PASTED}', "%zingy_apikey show"),
    ("%zingy_apikey set stripe 'p4ss", "%zingy_apikey set"),
]


@pytest.mark.parametrize("line", UNCHANGED)
def test_lines_the_grammar_accepts_stay_identical(line: str) -> None:
    assert clean_line(line) == line
    for ending in ("", "\n", "\r\n"):
        source = f"a = 1\n{line}{ending}"
        assert clean_source(source) == (source, 0)


@pytest.mark.parametrize("line", HARMLESS)
def test_a_refused_line_with_nothing_secret_on_it_is_kept_as_typed(line: str) -> None:
    assert clean_line(line) == line
    source = f"x = 1\n{line}\nprint(x)\n"
    assert clean_source(source) == (source, 0)


@pytest.mark.parametrize(("line", "expected"), CHANGED)
def test_every_token_the_grammar_refuses_is_dropped(line: str, expected: str) -> None:
    assert clean_line(line) == expected
    source = f"x = 1\n{line}\nprint(x)\n"
    assert clean_source(source) == (f"x = 1\n{expected}\nprint(x)\n", 1)
    assert TOKEN not in expected and PASTED not in expected


def test_counts_each_changed_line_and_keeps_the_others_byte_identical() -> None:
    source = (
        "import os\r\n"
        f"%zingy_apikey set stripe {TOKEN}\r\n"
        "%zingy_apikey list\r\n"
        "if True:\n"
        f"    %zingy_apikey update stripe --clear {PASTED}\n"
        f"%zingy_apikey retrieve stripe {PASTED}"
    )
    cleaned, changed = clean_source(source)
    assert changed == 3
    assert cleaned == (
        "import os\r\n"
        "%zingy_apikey set stripe\r\n"
        "%zingy_apikey list\r\n"
        "if True:\n"
        "    %zingy_apikey update stripe\n"
        "%zingy_apikey retrieve stripe"
    )


def test_backslash_continued_lines_are_one_magic_line() -> None:
    # IPython joins a continued magic line before it splits the arguments
    source = f"%zingy_apikey set stripe \\\n    {TOKEN}\nprint(1)\n"
    assert clean_source(source) == ("%zingy_apikey set stripe\nprint(1)\n", 1)
    fine = "%zingy_apikey set \\\n  stripe\nprint(1)\n"
    assert clean_source(fine) == (fine, 0)


def test_the_grammar_table_is_the_documented_one() -> None:
    assert COMMANDS == (
        "set", "update", "list", "show", "rename", "delete", "flow", "retrieve", "panel",
    )  # fmt: skip
    assert ARITY == {
        "set": (1, 1), "update": (1, 1), "list": (0, 0), "show": (1, 1), "rename": (2, 2),
        "delete": (1, 1), "flow": (0, 1), "retrieve": (1, 1), "panel": (0, 0),
    }  # fmt: skip
