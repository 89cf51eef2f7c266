import { requestAPI } from './request';

/** The four secret slots of a profile, as named by the REST API. */
export const SLOTS = ['secret1', 'secret2', 'secret3', 'secret4'] as const;

/** A slot key of the REST API. */
export type Slot = (typeof SLOTS)[number];

/** The slots that may be empty (and cleared). */
export const OPTIONAL_SLOTS = ['secret2', 'secret3', 'secret4'] as const;

/** A slot that may be cleared. */
export type OptionalSlot = (typeof OPTIONAL_SLOTS)[number];

/** The user-facing name of each slot. */
export const SLOT_LABELS: Record<Slot, string> = {
  secret1: 'Secret',
  secret2: 'Secret2',
  secret3: 'Secret3',
  secret4: 'Secret4'
};

/** What the server tells about a profile: never any secret value. */
export interface IProfileMeta {
  name: string;
  slots: Record<Slot, boolean>;
  /**
   * Set slots whose value is too short for the kernel's output redaction (the
   * server's minimum length): the user is told, so nobody relies on it there.
   */
  unredacted?: Slot[];
  /** ISO 8601 */
  created: string;
  /** ISO 8601 */
  updated: string;
}

/**
 * What to tell the user about a profile's slots that are not redacted from output.
 *
 * @param profile - metadata from the server
 * @returns a sentence, or `''` when every set slot is redacted
 */
export function unredactedNote(profile: IProfileMeta): string {
  const slots = profile.unredacted ?? [];
  if (slots.length === 0) {
    return '';
  }
  const names = slots.map(slot => SLOT_LABELS[slot] ?? slot).join(', ');
  const verb = slots.length === 1 ? 'is' : 'are';
  return `${names} ${verb} too short to be redacted from kernel output.`;
}

/** Body of `PUT profiles/{name}`: create or replace. */
export interface IProfilePut {
  secret1: string;
  secret2?: string | null;
  secret3?: string | null;
  secret4?: string | null;
}

/** Body of `PATCH profiles/{name}`: absent keeps the slot, `null` clears it. */
export type IProfilePatch = Partial<IProfilePut>;

/** Answer of `GET status`. */
export interface IStoreStatus {
  store: string;
  key_source: string;
  /** `master` (the embedded store's key) or `member` (your own key, a team store). */
  key_kind?: string;
  profiles: number;
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * Check a profile name the way the server does (the server stays the authority).
 *
 * @param name - the name as typed
 * @returns `null` if valid, else a message saying what is wrong and what to do
 */
export function validateProfileName(name: string): string | null {
  if (name.length === 0) {
    return 'Enter a profile name.';
  }
  if (name.length > 128) {
    return `The profile name is ${name.length} characters long; use at most 128.`;
  }
  if (!NAME_PATTERN.test(name)) {
    return (
      'A profile name may only contain letters, digits, ".", "_" and "-", ' +
      'and must start with a letter or a digit.'
    );
  }
  return null;
}

function profilePath(name: string): string {
  return `profiles/${encodeURIComponent(name)}`;
}

function jsonInit(method: string, body: unknown): RequestInit {
  return {
    method,
    body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json' }
  };
}

/**
 * List all profiles, sorted by name.
 *
 * @returns metadata of every profile
 */
export async function listProfiles(): Promise<IProfileMeta[]> {
  const data = await requestAPI<{ profiles: IProfileMeta[] }>('profiles');
  return [...(data?.profiles ?? [])].sort((a, b) =>
    a.name.localeCompare(b.name)
  );
}

/**
 * Get one profile's metadata.
 *
 * @param name - profile name
 * @returns its metadata; rejects with a 404 `ResponseError` if unknown
 */
export function getProfile(name: string): Promise<IProfileMeta> {
  return requestAPI<IProfileMeta>(profilePath(name));
}

/**
 * Create or replace a profile.
 *
 * @param name - profile name
 * @param body - all slots; `secret1` is required
 * @returns the stored profile's metadata
 */
export function putProfile(
  name: string,
  body: IProfilePut
): Promise<IProfileMeta> {
  return requestAPI<IProfileMeta>(profilePath(name), jsonInit('PUT', body));
}

/**
 * Change some slots of an existing profile.
 *
 * @param name - profile name
 * @param body - slots to set; `null` clears a slot, absent keeps it
 * @returns the stored profile's metadata
 */
export function patchProfile(
  name: string,
  body: IProfilePatch
): Promise<IProfileMeta> {
  return requestAPI<IProfileMeta>(profilePath(name), jsonInit('PATCH', body));
}

/**
 * Delete a profile.
 *
 * @param name - profile name
 */
export async function deleteProfile(name: string): Promise<void> {
  await requestAPI<void>(profilePath(name), { method: 'DELETE' });
}

/**
 * Describe the server's profile store.
 *
 * @returns the store kind, where its key comes from and the profile count
 */
export function getStoreStatus(): Promise<IStoreStatus> {
  return requestAPI<IStoreStatus>('status');
}

/**
 * The store's change token: it differs once anything in the store changed
 * (profiles or allowances, saved from anywhere). Opaque; cheap to ask for.
 *
 * @returns the token
 */
export async function getChangeToken(): Promise<string> {
  const data = await requestAPI<{ token: string }>('changes');
  return data.token;
}
