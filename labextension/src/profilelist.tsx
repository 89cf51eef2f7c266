import * as React from 'react';

import {
  IProfileMeta,
  SLOT_LABELS,
  SLOTS,
  unredactedNote
} from './profiles';

/** Props of {@link ProfileList}. */
export interface IProfileListProps {
  profiles: readonly IProfileMeta[];
  /** Name of the profile shown in the form, if it exists. */
  selected: string | null;
  busy: boolean;
  onSelect: (name: string) => void;
  onDelete: (name: string) => void;
}

/**
 * Format an ISO 8601 timestamp for display in the user's locale.
 *
 * @param iso - timestamp from the server
 * @returns the local date and time, or the input if it does not parse
 */
export function formatTimestamp(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/**
 * The list of profiles: name, which slots are set, last update, and actions.
 * It never shows a value: the server never sends one.
 */
export function ProfileList(props: IProfileListProps): JSX.Element {
  const { profiles, selected, busy, onSelect, onDelete } = props;
  if (profiles.length === 0) {
    return <p className="zingy-nb-empty">No profiles yet.</p>;
  }
  return (
    <ul className="zingy-nb-profile-list" aria-label="Profiles">
      {profiles.map(profile => {
        const isSelected = profile.name === selected;
        const nameId = `zingy-nb-profile-${encodeURIComponent(profile.name)}`;
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
            <div className="zingy-nb-profile-name" id={nameId}>
              {profile.name}
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
                {formatTimestamp(profile.updated)}
              </time>
            </div>
            <div className="zingy-nb-profile-actions">
              <button
                type="button"
                className="jp-Button jp-mod-styled jp-mod-reject"
                aria-describedby={nameId}
                disabled={busy}
                onClick={event => {
                  event.stopPropagation();
                  onSelect(profile.name);
                }}
              >
                Edit
              </button>
              <button
                type="button"
                className="jp-Button jp-mod-styled jp-mod-warn"
                aria-describedby={nameId}
                disabled={busy}
                onClick={event => {
                  event.stopPropagation();
                  onDelete(profile.name);
                }}
              >
                Delete
              </button>
            </div>
          </li>
        );
      })}
    </ul>
  );
}
