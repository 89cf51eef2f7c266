"""Made-up secrets for the leak table, one of each shape that has leaked before."""

from __future__ import annotations

import uuid

GHP = "ghp_Madeup0Token1For2Leak3Tests4Only5x6y"  # 40: GitHub classic
GITHUB_PAT = "github_pat_11MADEUP0" + "LeakTestOnly" * 6 + "Zq9x7w5v3u1"  # 102 > pandas' 50
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJtYWRldXAtdXNlciIsIm5hbWUiOiJNYWRlIFVwIiwiaWF0IjoxNTE2MjM5MDIyLCJzY29wZSI6"
    "Im1hZGV1cCBsZWFrIHRlc3RzIG9ubHkgYW5kIG5vdGhpbmcgZWxzZSJ9."
    "M4d3Up-S1gn4tur3_f0r_l34k_t3sts_0nly_xyzXYZ012345"
)
HTML_PW = "Tr1ck&y<Pass>w0rd\"with'quotes&more-123"  # escapes in HTML, JSON and repr
SSH_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACBtYWRldXBtYWRldXBtYWRldXBtYWRldXBtYWRldXBtYWRldXAAAAAJhtYW\n"
    "RldXBsZWFrdGVzdG9ubHlsZWFrdGVzdG9ubHlsZWFrdGVzdG9ubHlsZWFrdGVzdG9ubHkA\n"
    "AAAEbWFkZXVwIGtleSBmb3IgbGVhayB0ZXN0cyBvbmx5IG5vdCBhIHJlYWwga2V5IGF0IGFs\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
SHORT = "s3cr3tAB"  # 8: redacted whole only
STRIPE = "sk_live_51MadeUpKeyForLeakTests00abc"
SLASHED = "MADEUP/aws/Secret0Key/For1Leak/Tests2Only/x9"  # no run of 16 without a "/"

PROFILES: dict[str, tuple[str, ...]] = {
    "github": (GHP, GITHUB_PAT),
    "jwt": (JWT,),
    "html": (HTML_PW,),
    "ssh": (SSH_KEY,),
    "short": (SHORT,),
    "stripe": (STRIPE,),
    "aws": (SLASHED,),
}

#: Tokens a user types where a name belongs; never stored, never to be echoed.
TYPED = {
    "from-env": "sk_live_TypedAsVariable0123456789abcd",
    "inline": "sk_live_InlineTyped0123456789abcdefgh",
    "update": "ghp_UpdateTypedMadeUp0123456789abcdefgh",
    "retrieve": "whsec_RetrieveTypedMadeUp0123456789ab",
    "clear": "github_pat_ClearTypedMadeUp0123456789abc",
    "as-name": "sk_live_PastedAsAName0Zq8Wm4Rt7Yx2Vb5Nc3Lk",  # a refused name, in the audit
}


def stored() -> dict[str, str]:
    """Every stored value, labelled ``profile.slotN``."""
    return {
        f"{name}.secret{i}": value
        for name, values in PROFILES.items()
        for i, value in enumerate(values, start=1)
    }


#: Tokens typed where a name belongs, in the formats of real ones (they look like
#: variable and profile names), new each run: no error may quote them.
TOKENS = {
    "sk_live": f"sk_live_MADEUP{uuid.uuid4().hex[:20]}",
    "ghp": f"ghp_MADEUP{uuid.uuid4().hex[:26]}",
    "github_pat": f"github_pat_MADEUP_{uuid.uuid4().hex[:22]}",
    "whsec": f"whsec_MADEUP{uuid.uuid4().hex[:24]}",
}
