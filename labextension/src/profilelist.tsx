import {
  deleteIcon,
  editIcon,
  ToolbarButtonComponent
} from '@jupyterlab/ui-components';
import * as React from 'react';

import { IAllowance } from './allowances';
import { NotebookList } from './notebooklist';
import {
  IProfileMeta,
  SLOT_LABELS,
  SLOTS,
  unredactedNote
} from './profiles';
import { formatUtcMinute } from './time';

/** Props of {@link ProfileList}. */
export interface IProfileListProps {
  profiles: readonly IProfileMeta[];
  /** Name of the profile shown in the form, if it exists. */
  selected: string | null;
  busy: boolean;
  onSelect: (name: string) => void;
  onDelete: (name: string) => void;
  /** The notebooks allowed to read a profile. */
  allowances: (name: string) => readonly IAllowance[];
  onDisallow: (allowance: IAllowance) => void;
}

/**
 * The tooltip, and accessible name, of a row action.
 *
 * @param action - what the button does ("Edit", "Delete")
 * @param name - the profile's name
 * @returns e.g. `Delete profile "stripe"`
 */
export function actionTitle(action: string, name: string): string {
  return `${action} profile "${name}"`;
}

/**
 * The list of profiles: name, which slots are set, last update, the notebooks
 * allowed to read it, and actions. It never shows a value: the server never
 * sends one.
 */
export function ProfileList(props: IProfileListProps): JSX.Element {
  const { profiles, selected, busy, onSelect, onDelete, onDisallow } = props;
  if (profiles.length === 0) {
    return <p className="zingy-nb-empty">No profiles yet.</p>;
  }
  return (
    <ul className="zingy-nb-profile-list" aria-label="Profiles">
      {profiles.map(profile => {
        const isSelected = profile.name === selected;
        const note = unredactedNote(profile);
        return (
          <li
            key={profile.name}
            className={
              'zingy-nb-profile' + (isSelected ? ' zingy-nb-mod-selected' : '')
            }
            data-name={profile.name}
            aria-current={isSelected ? 'true' : undefined}
            onClick={() => onSelect(profile.name)}
          >
            <div className="zingy-nb-profile-header">
              <div className="zingy-nb-profile-name">{profile.name}</div>
              <div className="zingy-nb-profile-actions">
                <ToolbarButtonComponent
                  icon={editIcon}
                  tooltip={actionTitle('Edit', profile.name)}
                  enabled={!busy}
                  onClick={event => {
                    event?.stopPropagation();
                    onSelect(profile.name);
                  }}
                />
                <ToolbarButtonComponent
                  icon={deleteIcon}
                  tooltip={actionTitle('Delete', profile.name)}
                  enabled={!busy}
                  onClick={event => {
                    event?.stopPropagation();
                    onDelete(profile.name);
                  }}
                />
              </div>
            </div>
            <div className="zingy-nb-slots">
              {SLOTS.map(slot => {
                const set = !!profile.slots?.[slot];
                const unredacted = !!profile.unredacted?.includes(slot);
                return (
                  <span
                    key={slot}
                    className="zingy-nb-slot"
                    data-slot={slot}
                    data-set={set ? 'true' : 'false'}
                    data-unredacted={unredacted ? 'true' : undefined}
                    title={
                      `${SLOT_LABELS[slot]} ${set ? 'is set' : 'is not set'}` +
                      (unredacted ? ' (too short to be redacted from output)' : '')
                    }
                  >
                    {SLOT_LABELS[slot]}
                    <span className="zingy-nb-sr-only">
                      {set ? ' (set)' : ' (not set)'}
                    </span>
                  </span>
                );
              })}
            </div>
            {note && (
              <div className="zingy-nb-profile-note" role="note">
                {note}
              </div>
            )}
            <div className="zingy-nb-profile-updated">
              Updated{' '}
              <time dateTime={profile.updated} title={profile.updated}>
                {formatUtcMinute(profile.updated)}
              </time>
            </div>
            <NotebookList
              profile={profile.name}
              allowances={props.allowances(profile.name)}
              busy={busy}
              onDisallow={onDisallow}
            />
          </li>
        );
      })}
    </ul>
  );
}
