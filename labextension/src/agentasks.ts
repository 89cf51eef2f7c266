import { Dialog } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { createAccessDialog } from './accessdialog';
import { AccessAnswer } from './accessprompt';
import { requestAPI } from './request';
import { createUnlockDialog, sendPassphrase } from './unlockdialog';

/** How often the server's open questions are asked for while the tab is shown. */
export const ASKS_POLL_MS = 1000;

/** One open question of the zingy-nb agent (`GET zingy-nb/api/asks`). */
export interface IAgentAsk {
  /** The agent's id of the question. */
  id: string;
  /**
   * `access`: may the notebook read the profile? `unlock`: a retrieval waits for
   * the store's key, locked with a passphrase (profile and notebook are `null`).
   */
  kind?: 'access' | 'unlock';
  /** The profile the notebook would read. */
  profile: string;
  /** The notebook's real path. */
  notebook: string;
  /** The same below the server's root, or `null` outside it. */
  path: string | null;
}

/** The reply of `GET zingy-nb/api/asks`. */
interface IAsksReply {
  connected: boolean;
  asks: IAgentAsk[];
}

/**
 * Post a person's answer as this browser session: the login cookie and the
 * XSRF header, never the server's token (the server refuses an answer that
 * carries it: a kernel can read the token, it must not answer for a person).
 *
 * @param id - the question's id
 * @param answer - `allow` or `deny`
 * @returns whether the server took it (`false`: the question had closed)
 * @throws ServerConnection.ResponseError on any other refusal
 */
export async function answerAgentAsk(
  id: string,
  answer: AccessAnswer
): Promise<boolean> {
  const settings = ServerConnection.makeSettings({ token: '' });
  const url = URLExt.join(
    settings.baseUrl,
    'zingy-nb',
    'api',
    'asks',
    encodeURIComponent(id)
  );
  const response = await ServerConnection.makeRequest(
    url,
    { method: 'POST', body: JSON.stringify({ answer }) },
    settings
  );
  if (response.status === 404) {
    return false;
  }
  if (!response.ok) {
    let message = `Answering failed with status ${response.status}`;
    try {
      const data = await response.json();
      message = typeof data?.message === 'string' ? data.message : message;
    } catch {
      // Not JSON: keep the status.
    }
    throw new ServerConnection.ResponseError(response, message);
  }
  return true;
}

/**
 * Shows the zingy-nb agent's questions while JupyterLab is open: on Linux every
 * kernel is judged by the agent, which asks through this server (the kernel's
 * own stdin path, `AccessPrompts`, is for platforms without an agent). It polls
 * `GET zingy-nb/api/asks` and shows each question, one at a time: may a
 * notebook read a profile (the access dialog; the answer is posted), or will
 * you unlock the store's key, locked with a passphrase (the Unlock dialog; the
 * passphrase is posted, and asked again while it is wrong). A question that
 * closed meanwhile (answered in another tab, timed out) closes its dialog.
 * Nothing is written into any cell.
 */
export class AgentAsks {
  /**
   * @param interval - milliseconds between polls
   */
  constructor(private readonly interval = ASKS_POLL_MS) {}

  /** Start polling (idempotent). */
  start(): void {
    if (this._timer === null) {
      this._timer = window.setInterval(() => void this._poll(), this.interval);
      void this._poll();
    }
  }

  /** Stop polling and close an open dialog without answering. */
  stop(): void {
    if (this._timer !== null) {
      window.clearInterval(this._timer);
      this._timer = null;
    }
    this._close();
  }

  private async _poll(): Promise<void> {
    if (this._polling || document.hidden) {
      return;
    }
    this._polling = true;
    try {
      const reply = await requestAPI<IAsksReply>('asks');
      this._open = reply.asks;
      const ids = new Set(reply.asks.map(ask => ask.id));
      if (this._current && !ids.has(this._current.id)) {
        this._close();
      }
      if (!this._current && this._sending === null) {
        const next = reply.asks.find(ask => !this._answered.has(ask.id));
        if (next) {
          void this._show(next);
        }
      }
    } catch {
      // The server may be restarting, or be an older one: try again later.
    } finally {
      this._polling = false;
    }
  }

  private async _show(ask: IAgentAsk): Promise<void> {
    if (ask.kind === 'unlock') {
      return this._unlock(ask);
    }
    const dialog = createAccessDialog({
      notebook: ask.path ?? ask.notebook,
      profile: ask.profile
    });
    this._current = { id: ask.id, dialog };
    let answer: AccessAnswer | null = null;
    try {
      const result = await dialog.launch();
      answer = result.button.accept ? 'allow' : 'deny';
    } catch {
      // Closed because the question closed: nothing to answer.
    }
    if (this._current?.dialog === dialog) {
      this._current = null;
    }
    if (answer === null) {
      return;
    }
    this._answered.add(ask.id);
    try {
      await answerAgentAsk(ask.id, answer);
    } catch (error) {
      console.warn('zingy-nb: the answer did not reach the server', error);
    }
    void this._poll();
  }

  /**
   * Ask for the passphrase until the server unlocks the key, the person
   * cancels, or the question closes (unlocked elsewhere, timed out).
   */
  private async _unlock(ask: IAgentAsk): Promise<void> {
    let error: string | null = null;
    for (;;) {
      const dialog = createUnlockDialog(error);
      this._current = { id: ask.id, dialog };
      let passphrase: string | null = null;
      try {
        const result = await dialog.launch();
        passphrase = result.button.accept ? result.value ?? '' : null;
      } catch {
        // Closed because the question closed: nothing to send.
      }
      if (this._current?.dialog !== dialog) {
        return; // the question closed meanwhile
      }
      this._current = null;
      if (passphrase === null) {
        this._answered.add(ask.id); // cancelled: not asked again for this question
        return;
      }
      // Until the server answers, this question is being handled: a poll meanwhile
      // must not show it again (JupyterLab queues dialogs, so a second one would
      // hide the answer's error behind a fresh, empty dialog).
      this._sending = ask.id;
      try {
        error = await sendPassphrase(passphrase);
      } catch {
        error = 'Cannot reach the Jupyter server. Check that it is running, then try again.';
      } finally {
        this._sending = null;
      }
      if (error === null) {
        this._answered.add(ask.id);
        void this._poll();
        return;
      }
      if (!this._open.some(open => open.id === ask.id)) {
        return; // the question closed while the passphrase was checked
      }
    }
  }

  private _close(): void {
    const current = this._current;
    this._current = null;
    if (current && !current.dialog.isDisposed) {
      current.dialog.dispose();
    }
  }

  /** The questions open at the last poll. */
  get open(): readonly IAgentAsk[] {
    return this._open;
  }

  private _timer: number | null = null;
  private _polling = false;
  private _open: IAgentAsk[] = [];
  private _current: { id: string; dialog: Dialog<any> } | null = null;
  private _sending: string | null = null;
  private readonly _answered = new Set<string>();
}
