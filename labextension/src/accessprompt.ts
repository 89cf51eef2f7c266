import { Widget } from '@lumino/widgets';

/**
 * The answers the kernel understands (`zingy_nb/kernel/access_prompt.py`):
 * `allow` allows, anything else denies.
 */
export type AccessAnswer = 'allow' | 'deny';

/** What a notebook-access prompt asks: may `notebook` read `profile`? */
export interface IAccessRequest {
  /** The notebook's real path, as the kernel knows it. */
  notebook: string;
  /** The profile's name. */
  profile: string;
}

const JSON_STRING = String.raw`"(?:[^"\\]|\\.)*"`;

/**
 * The kernel's prompt, as `PROMPT_RE` in `zingy_nb/kernel/access_prompt.py`
 * defines it: `zingy-nb: allow notebook "<notebook>" to read profile
 * "<profile>"? [allow/deny] ` (both names are JSON strings). The trailing space
 * is optional here, in case a front end trims it.
 */
export const ACCESS_PROMPT_RE = new RegExp(
  String.raw`^zingy-nb: allow notebook (${JSON_STRING}) to read profile ` +
    String.raw`(${JSON_STRING})\? \[allow/deny\] ?$`
);

/**
 * Recognise a notebook-access prompt of the kernel.
 *
 * @param prompt - the `prompt` of an `input_request`
 * @returns the notebook and profile it names, or `null` for any other prompt
 */
export function parseAccessPrompt(prompt: string): IAccessRequest | null {
  const found = ACCESS_PROMPT_RE.exec(prompt);
  if (!found) {
    return null;
  }
  try {
    const notebook: unknown = JSON.parse(found[1]);
    const profile: unknown = JSON.parse(found[2]);
    if (typeof notebook === 'string' && typeof profile === 'string') {
      return { notebook, profile };
    }
  } catch {
    // Not valid JSON strings: not our prompt.
  }
  return null;
}

/**
 * The prompt text an output area's input widget shows (JupyterLab's `Stdin`
 * renders it in a `.jp-Stdin-prompt` element that also holds the input box).
 *
 * @param stdin - the widget of `OutputArea.inputRequested`
 * @returns the prompt, or `''` if the widget has none
 */
export function promptOf(stdin: Widget): string {
  return stdin.node.querySelector('.jp-Stdin-prompt')?.textContent ?? '';
}

/**
 * Answer an input widget the way a person does: type the answer, press Enter.
 * JupyterLab's `Stdin` then sends the `input_reply` through the cell's kernel
 * future (stdin channel), records the exchange in the cell's output and removes
 * the input box.
 *
 * @param stdin - the widget of `OutputArea.inputRequested`
 * @param answer - what to send
 * @returns whether the widget took the answer (its `value` resolved)
 */
export async function answerStdin(
  stdin: Widget & { readonly value: Promise<string> },
  answer: AccessAnswer
): Promise<boolean> {
  const input = stdin.node.querySelector('input');
  if (!input || stdin.isDisposed) {
    return false;
  }
  input.value = answer;
  const enter = new KeyboardEvent('keydown', {
    key: 'Enter',
    bubbles: true,
    cancelable: true
  });
  const listener = stdin as Partial<EventListenerObject>;
  if (stdin.isAttached) {
    // Stdin listens on its input while it is attached.
    input.dispatchEvent(enter);
  } else if (typeof listener.handleEvent === 'function') {
    listener.handleEvent(enter);
  }
  const taken = stdin.value.then(() => true);
  const notTaken = new Promise<boolean>(resolve =>
    setTimeout(() => resolve(false), 0)
  );
  return Promise.race([taken, notTaken]);
}

/** How the kernel's question starts (`PROMPT_PREFIX` in `access_prompt.py`). */
export const ACCESS_PROMPT_PREFIX = 'zingy-nb: allow notebook ';

/**
 * Whether a cell's output text is JupyterLab's record of an answered access
 * question (the prompt followed by the answer).
 *
 * @param text - a `stdin` stream output's text
 * @returns whether it is the question and its answer
 */
export function isAnsweredPrompt(text: string): boolean {
  return text.startsWith(ACCESS_PROMPT_PREFIX) && text.includes('? [allow/deny]');
}

/**
 * The one line a cell keeps instead of the question and its answer.
 *
 * @param request - what was asked
 * @param answer - what was answered
 * @returns the line, with its line ending
 */
export function decisionLine(
  request: IAccessRequest,
  answer: AccessAnswer
): string {
  const profile = JSON.stringify(request.profile);
  return answer === 'allow'
    ? `zingy-nb: this notebook may read profile ${profile} (allowed).\n`
    : `zingy-nb: this notebook may not read profile ${profile} (denied).\n`;
}
