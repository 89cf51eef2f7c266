import { getChangeToken } from './profiles';

/** How often the store's change token is asked for while the sidebar is shown. */
export const CHANGE_POLL_MS = 2000;

/**
 * Follows the store while the API Keys sidebar is visible: a profile saved from
 * the CLI, a kernel or another tab shows up without pressing Refresh.
 *
 * It polls `GET zingy-nb/api/changes` (a token, no data) and calls `onChange`
 * when the token moves; nothing runs while it is stopped or the browser tab is
 * hidden, and a failed poll (server restarting) just waits for the next one.
 */
export class ChangeWatch {
  /**
   * @param onChange - called when the store changed (e.g. reload the list)
   * @param interval - milliseconds between polls
   */
  constructor(
    private readonly onChange: () => Promise<unknown>,
    private readonly interval = CHANGE_POLL_MS
  ) {}

  /** Whether polling is on. */
  get running(): boolean {
    return this._timer !== null;
  }

  /** Start polling (idempotent); the first poll only learns the token. */
  start(): void {
    if (this._timer === null) {
      this._timer = window.setInterval(() => void this._poll(), this.interval);
      void this._poll();
    }
  }

  /** Stop polling; the next start learns the token again. */
  stop(): void {
    if (this._timer !== null) {
      window.clearInterval(this._timer);
      this._timer = null;
    }
    this._token = null;
  }

  private async _poll(): Promise<void> {
    if (this._polling || document.hidden) {
      return;
    }
    this._polling = true;
    try {
      const token = await getChangeToken();
      const known = this._token;
      this._token = token;
      if (known !== null && token !== known && this.running) {
        await this.onChange();
      }
    } catch {
      // The server may be restarting: the next poll tries again.
    } finally {
      this._polling = false;
    }
  }

  private _timer: number | null = null;
  private _token: string | null = null;
  private _polling = false;
}
