import { Dialog } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';

/** Label of the dialog's button that unlocks. */
export const UNLOCK_LABEL = 'Unlock';

/** The dialog's title. */
export const UNLOCK_TITLE = 'Unlock the API Key store';

/**
 * The dialog's body: what is asked, a password field, and the last error.
 * The passphrase lives only in the field and in the one request that sends it.
 */
export class PassphraseBody extends Widget {
  /**
   * @param error - why the last attempt failed, shown above the field
   */
  constructor(error: string | null) {
    super();
    this.addClass('zingy-nb-unlock');
    const text = document.createElement('p');
    const command = document.createElement('code');
    command.textContent = 'zingy-nb lock';
    text.append(
      "A notebook needs the store's key, which is locked with a passphrase. " +
        'The zingy-nb agent keeps it unlocked until ',
      command,
      '; the cell waits for it.'
    );
    this.node.appendChild(text);
    if (error) {
      const shown = document.createElement('p');
      shown.className = 'zingy-nb-unlock-error';
      shown.textContent = error;
      this.node.appendChild(shown);
    }
    this._input = document.createElement('input');
    this._input.type = 'password';
    this._input.autocomplete = 'current-password';
    this._input.className = 'jp-mod-styled zingy-nb-unlock-passphrase';
    this._input.setAttribute('aria-label', 'Passphrase');
    this.node.appendChild(this._input);
  }

  /** The passphrase typed. */
  getValue(): string {
    return this._input.value;
  }

  protected onAfterAttach(): void {
    this._input.focus();
  }

  private readonly _input: HTMLInputElement;
}

/**
 * A modal dialog asking for the store's passphrase.
 *
 * @param error - why the previous attempt failed, or `null`
 * @returns the dialog, not launched yet; its result's `value` is the passphrase
 */
export function createUnlockDialog(error: string | null): Dialog<string> {
  return new Dialog<string>({
    title: UNLOCK_TITLE,
    body: new PassphraseBody(error),
    buttons: [
      Dialog.cancelButton(),
      Dialog.okButton({ label: UNLOCK_LABEL })
    ],
    defaultButton: 1,
    focusNodeSelector: 'input',
    hasClose: true
  });
}

/**
 * Send the passphrase as this browser session (login cookie, XSRF header, never
 * the server's token, which the server refuses here as for answers).
 *
 * @param passphrase - what the person typed
 * @returns `null` once unlocked, else the server's reason (wrong passphrase...)
 */
export async function sendPassphrase(
  passphrase: string
): Promise<string | null> {
  const settings = ServerConnection.makeSettings({ token: '' });
  const url = URLExt.join(settings.baseUrl, 'zingy-nb', 'api', 'unlock');
  const response = await ServerConnection.makeRequest(
    url,
    { method: 'POST', body: JSON.stringify({ passphrase }) },
    settings
  );
  if (response.ok) {
    return null;
  }
  try {
    const data = await response.json();
    if (typeof data?.message === 'string') {
      return data.message;
    }
  } catch {
    // Not JSON: say the status.
  }
  return `Unlocking failed with status ${response.status}.`;
}
