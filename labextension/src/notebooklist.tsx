import { closeIcon, ToolbarButtonComponent } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IAllowance, notebookLabel } from './allowances';
import { formatUtcMinute } from './time';

/** What each `how` of an allowance means, for its tooltip. */
const HOW_TEXT: Record<string, string> = {
  prompt: 'allowed when it asked',
  created: 'created the profile',
  cli: 'allowed with zingy-nb profiles allow',
  rest: 'allowed through the REST API',
  upgrade: 'had read it before notebook access existed'
};

/**
 * The tooltip, and accessible name, of an allowance's remove button.
 *
 * @param allowance - the allowance
 * @returns e.g. `Disallow notebook "work/a.ipynb" for profile "stripe"`
 */
export function disallowTitle(allowance: IAllowance): string {
  const role = allowance.role ? ` (role ${allowance.role})` : '';
  return (
    `Disallow notebook "${notebookLabel(allowance)}"${role} ` +
    `for profile "${allowance.profile}"`
  );
}

/**
 * The tooltip of an allowance's notebook: full path, how and when.
 *
 * @param allowance - the allowance
 * @returns several lines of text
 */
export function allowanceTooltip(allowance: IAllowance): string {
  const how = HOW_TEXT[allowance.how] ?? allowance.how;
  const role = allowance.role ? `\nRole: ${allowance.role}` : '';
  const when = formatUtcMinute(allowance.created);
  return `${allowance.notebook}\n${how}, ${when}${role}`;
}

/** Props of {@link NotebookList}. */
export interface INotebookListProps {
  profile: string;
  allowances: readonly IAllowance[];
  busy: boolean;
  onDisallow: (allowance: IAllowance) => void;
}

/**
 * The notebooks allowed to read one profile, each with a button removing it.
 * Nothing is rendered when there are none.
 */
export function NotebookList(props: INotebookListProps): JSX.Element | null {
  const { profile, allowances, busy, onDisallow } = props;
  if (allowances.length === 0) {
    return null;
  }
  return (
    <div className="zingy-nb-notebooks">
      <div className="zingy-nb-notebooks-title">Allowed notebooks</div>
      <ul
        className="zingy-nb-notebook-list"
        aria-label={`Notebooks allowed to read "${profile}"`}
      >
        {allowances.map(allowance => (
          <li
            key={`${allowance.notebook}\u0000${allowance.role ?? ''}`}
            className="zingy-nb-notebook"
            data-notebook={allowance.notebook}
          >
            <span
              className="zingy-nb-notebook-path"
              title={allowanceTooltip(allowance)}
            >
              {notebookLabel(allowance)}
            </span>
            {allowance.role && (
              <span className="zingy-nb-notebook-role">{allowance.role}</span>
            )}
            <ToolbarButtonComponent
              icon={closeIcon}
              tooltip={disallowTitle(allowance)}
              enabled={!busy}
              onClick={event => {
                event?.stopPropagation();
                onDisallow(allowance);
              }}
            />
          </li>
        ))}
      </ul>
    </div>
  );
}
