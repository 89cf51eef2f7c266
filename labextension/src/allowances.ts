import { requestAPI } from './request';

/** A notebook allowed to read a profile (`GET profiles/{name}/notebooks`). */
export interface IAllowance {
  profile: string;
  /** The notebook's real path, as kept. */
  notebook: string;
  /** The same below the server's root, or `null` for a notebook outside it. */
  path: string | null;
  /** How it was allowed: `prompt`, `created`, `cli`, `rest` or `upgrade`. */
  how: string;
  /** ISO 8601 */
  created: string;
  /** The database role it belongs to on a team store, else `null`. */
  role: string | null;
}

function notebooksPath(profile: string): string {
  return `profiles/${encodeURIComponent(profile)}/notebooks`;
}

/**
 * The notebooks allowed to read a profile (on a team store: those the caller
 * may see: its own, or every role's for a manager).
 *
 * @param profile - profile name
 * @returns the allowances, sorted by notebook
 */
export async function listAllowances(profile: string): Promise<IAllowance[]> {
  const data = await requestAPI<{ notebooks: IAllowance[] }>(
    notebooksPath(profile)
  );
  return [...(data?.notebooks ?? [])].sort(
    (a, b) =>
      a.notebook.localeCompare(b.notebook) ||
      (a.role ?? '').localeCompare(b.role ?? '')
  );
}

/**
 * Remove one allowance: by the notebook's full path (and, on a team store,
 * its role).
 *
 * @param allowance - as listed by {@link listAllowances}
 */
export async function removeAllowance(allowance: IAllowance): Promise<void> {
  const query = new URLSearchParams({ notebook: allowance.notebook });
  if (allowance.role) {
    query.set('role', allowance.role);
  }
  await requestAPI<void>(`${notebooksPath(allowance.profile)}?${query}`, {
    method: 'DELETE'
  });
}

/**
 * How a notebook is named in the sidebar: its path below the server's root,
 * or its full path when it is outside.
 *
 * @param allowance - an allowance
 * @returns the name to show
 */
export function notebookLabel(allowance: IAllowance): string {
  return allowance.path ?? allowance.notebook;
}
