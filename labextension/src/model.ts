import { Notification } from '@jupyterlab/apputils';
import { ISignal, Signal } from '@lumino/signaling';

import {
  IAllowance,
  listAllowances,
  notebookLabel,
  removeAllowance
} from './allowances';
import {
  deleteProfile,
  getStoreStatus,
  IProfileMeta,
  IProfilePatch,
  IProfilePut,
  IStoreStatus,
  listProfiles,
  OPTIONAL_SLOTS,
  OptionalSlot,
  patchProfile,
  putProfile,
  Slot,
  SLOT_LABELS,
  unredactedNote,
  validateProfileName
} from './profiles';
import { errorMessage } from './request';

/**
 * A success message, followed by what to know about slots left unredacted.
 *
 * @param text - what was done
 * @param meta - the saved profile's metadata, from the server
 * @returns the text for the status line
 */
function withNote(text: string, meta: IProfileMeta): string {
  const note = unredactedNote(meta);
  return note ? `${text} ${note}` : text;
}

/**
 * The allowances of every profile; a profile whose list cannot be read (an
 * older server, a team-store role that may not see it) gets none.
 *
 * @param profiles - the profiles listed
 * @returns allowances by profile name
 */
async function loadAllowances(
  profiles: readonly IProfileMeta[]
): Promise<Map<string, IAllowance[]>> {
  const lists = await Promise.all(
    profiles.map(profile =>
      listAllowances(profile.name).catch((): IAllowance[] => [])
    )
  );
  return new Map(profiles.map((profile, i) => [profile.name, lists[i]]));
}

/** The sidebar's status line. */
export interface IStatusLine {
  kind: 'info' | 'success' | 'error';
  text: string;
}

/**
 * State of the API Keys sidebar: the profile list and the status line.
 *
 * Secret values never enter this model; the form keeps them only until Save.
 */
export class ProfilesModel {
  /** Emitted whenever any state below changes. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Profiles of the last successful refresh, sorted by name. */
  get profiles(): readonly IProfileMeta[] {
    return this._profiles;
  }

  /** Store description of the last refresh, if the server gave one. */
  get storeStatus(): IStoreStatus | null {
    return this._storeStatus;
  }

  /** Current status line, or `null`. */
  get status(): IStatusLine | null {
    return this._status;
  }

  /** Whether a request is in flight. */
  get busy(): boolean {
    return this._busy > 0;
  }

  /** Whether a refresh has succeeded at least once. */
  get loaded(): boolean {
    return this._loaded;
  }

  /**
   * Counter of "new profile" requests; the form resets and focuses the
   * name field whenever it grows (even if the form mounts later).
   */
  get newProfileRequests(): number {
    return this._newProfileRequests;
  }

  /**
   * The notebooks allowed to read a profile, as of the last refresh.
   *
   * @param name - profile name
   * @returns its allowances (those the server lets this user see)
   */
  allowances(name: string): readonly IAllowance[] {
    return this._allowances.get(name) ?? [];
  }

  /**
   * Find a profile of the last refresh by name.
   *
   * @param name - profile name
   * @returns its metadata, or `undefined`
   */
  find(name: string): IProfileMeta | undefined {
    return this._profiles.find(p => p.name === name);
  }

  /** Ask the form to start a new profile. */
  requestNewProfile(): void {
    this._newProfileRequests++;
    this._changed.emit();
  }

  /**
   * Show a message in the status line; errors also raise a notification.
   *
   * @param kind - kind of message
   * @param text - message text (never a secret)
   * @param notify - also raise a JupyterLab notification for errors
   */
  setStatus(kind: IStatusLine['kind'], text: string, notify = true): void {
    this._status = { kind, text };
    if (kind === 'error' && notify) {
      Notification.error(text, { autoClose: 8000 });
    }
    this._changed.emit();
  }

  /**
   * Reload the profile list (and the store description) from the server.
   *
   * @returns whether the list was loaded
   */
  async refresh(): Promise<boolean> {
    return this._run(async () => {
      const [profiles, status] = await Promise.all([
        listProfiles(),
        getStoreStatus().catch(() => null)
      ]);
      this._allowances = await loadAllowances(profiles);
      this._profiles = profiles;
      this._storeStatus = status;
      this._loaded = true;
      return true;
    }, false);
  }

  /**
   * Save the form: PATCH an existing profile with only what changes, or PUT a
   * new one with all slots. Checks the input first; refreshes afterwards.
   *
   * @param name - profile name as typed
   * @param values - entered secret values (empty string = nothing entered)
   * @param clear - optional slots to clear (only used when the profile exists)
   * @returns whether the profile was saved
   */
  async save(
    name: string,
    values: Record<Slot, string>,
    clear: Record<OptionalSlot, boolean>
  ): Promise<boolean> {
    const invalid = validateProfileName(name);
    if (invalid) {
      this.setStatus('error', invalid, false);
      return false;
    }
    const saved = await this._run(async () => {
      if (await this._exists(name)) {
        const body: IProfilePatch = {};
        if (values.secret1) {
          body.secret1 = values.secret1;
        }
        for (const slot of OPTIONAL_SLOTS) {
          if (clear[slot] && values[slot]) {
            this.setStatus(
              'error',
              `${SLOT_LABELS[slot]}: enter a new value or tick "clear", not both.`,
              false
            );
            return false;
          }
          if (clear[slot]) {
            body[slot] = null;
          } else if (values[slot]) {
            body[slot] = values[slot];
          }
        }
        if (Object.keys(body).length === 0) {
          this.setStatus(
            'error',
            `Nothing to change in "${name}": enter a new value or tick "clear" for a slot.`,
            false
          );
          return false;
        }
        const meta = await patchProfile(name, body);
        this.setStatus('success', withNote(`Updated profile "${name}".`, meta));
      } else {
        if (!values.secret1) {
          this.setStatus(
            'error',
            `"${name}" is a new profile: enter its Secret, then Save.`,
            false
          );
          return false;
        }
        const body: IProfilePut = {
          secret1: values.secret1,
          secret2: values.secret2 || null,
          secret3: values.secret3 || null,
          secret4: values.secret4 || null
        };
        const meta = await putProfile(name, body);
        this.setStatus('success', withNote(`Saved new profile "${name}".`, meta));
      }
      await this._reload();
      return true;
    }, false);
    if (!saved) {
      // The list may be stale (e.g. a profile deleted elsewhere).
      await this._reload();
      this._changed.emit();
    }
    return saved;
  }

  /**
   * Delete a profile (no confirmation here), then refresh.
   *
   * @param name - profile name
   * @returns whether it was deleted
   */
  async remove(name: string): Promise<boolean> {
    return this._run(async () => {
      await deleteProfile(name);
      this.setStatus('success', `Deleted profile "${name}".`);
      await this._reload();
      return true;
    }, false);
  }

  /**
   * Remove a notebook's allowance on a profile (no confirmation: the next run
   * of that notebook asks again), then refresh.
   *
   * @param allowance - one of {@link ProfilesModel.allowances}
   * @returns whether it was removed
   */
  async removeAllowance(allowance: IAllowance): Promise<boolean> {
    return this._run(async () => {
      await removeAllowance(allowance);
      this.setStatus(
        'success',
        `Notebook "${notebookLabel(allowance)}" may no longer read ` +
          `"${allowance.profile}"; its next read asks again.`
      );
      await this._reload();
      return true;
    }, false);
  }

  private async _exists(name: string): Promise<boolean> {
    if (this.find(name)) {
      return true;
    }
    // The list may be stale (a profile saved elsewhere): ask the server. Not with
    // GET profiles/{name}: its expected 404 would be logged as a console error.
    const profiles = await listProfiles();
    return profiles.some(profile => profile.name === name);
  }

  private async _reload(): Promise<void> {
    try {
      const profiles = await listProfiles();
      this._allowances = await loadAllowances(profiles);
      this._profiles = profiles;
      this._storeStatus = await getStoreStatus().catch(() => this._storeStatus);
      this._loaded = true;
    } catch {
      // The action itself succeeded; a later Refresh will show the list.
    }
  }

  private async _run<T>(action: () => Promise<T>, failed: T): Promise<T> {
    this._busy++;
    this._changed.emit();
    try {
      return await action();
    } catch (error) {
      this.setStatus('error', errorMessage(error));
      return failed;
    } finally {
      this._busy--;
      this._changed.emit();
    }
  }

  private _changed = new Signal<this, void>(this);
  private _profiles: IProfileMeta[] = [];
  private _allowances = new Map<string, IAllowance[]>();
  private _storeStatus: IStoreStatus | null = null;
  private _status: IStatusLine | null = null;
  private _busy = 0;
  private _loaded = false;
  private _newProfileRequests = 0;
}
