import * as React from 'react';

import {
  IProfileMeta,
  OptionalSlot,
  Slot,
  SLOT_LABELS,
  SLOTS
} from './profiles';

/** Entered secret values; an empty string means "nothing entered". */
export type SlotValues = Record<Slot, string>;

/** Optional slots ticked "clear". */
export type SlotClears = Record<OptionalSlot, boolean>;

/** Empty secret values. */
export const NO_VALUES: SlotValues = {
  secret1: '',
  secret2: '',
  secret3: '',
  secret4: ''
};

/** No slot ticked "clear". */
export const NO_CLEARS: SlotClears = {
  secret2: false,
  secret3: false,
  secret4: false
};

/** Props of {@link ProfileForm}. */
export interface IProfileFormProps {
  /** Prefix making element ids unique. */
  idPrefix: string;
  name: string;
  values: SlotValues;
  clears: SlotClears;
  /** The stored profile with this name, if any (to show which slots are set). */
  existing: IProfileMeta | undefined;
  busy: boolean;
  nameRef: React.RefObject<HTMLInputElement>;
  onNameChange: (name: string) => void;
  onValueChange: (slot: Slot, value: string) => void;
  onClearChange: (slot: OptionalSlot, clear: boolean) => void;
  onSave: () => void;
  onReset: () => void;
}

function placeholder(existing: IProfileMeta | undefined, slot: Slot): string {
  if (!existing) {
    return slot === 'secret1' ? 'required' : 'optional';
  }
  return existing.slots?.[slot] ? 'set; empty keeps it' : 'not set';
}

/**
 * The write-only profile form: values go to the server and are never read back.
 */
export function ProfileForm(props: IProfileFormProps): JSX.Element {
  const { idPrefix, name, values, clears, existing, busy } = props;
  const id = (part: string) => `${idPrefix}-${part}`;
  return (
    <form
      className="zingy-nb-form"
      aria-labelledby={id('form-title')}
      noValidate
      autoComplete="off"
      onSubmit={event => {
        event.preventDefault();
        props.onSave();
      }}
    >
      <h3 className="zingy-nb-form-title" id={id('form-title')}>
        {existing ? `Edit profile "${existing.name}"` : 'New profile'}
      </h3>
      <div className="zingy-nb-field">
        <label htmlFor={id('name')}>Profile name</label>
        <input
          id={id('name')}
          ref={props.nameRef}
          className="jp-mod-styled"
          type="text"
          name="profile-name"
          autoComplete="off"
          spellCheck={false}
          maxLength={128}
          value={name}
          onChange={event => props.onNameChange(event.target.value)}
        />
      </div>
      {SLOTS.map(slot => {
        const optional = slot !== 'secret1';
        return (
          <div className="zingy-nb-field" key={slot} data-slot={slot}>
            <label htmlFor={id(slot)}>{SLOT_LABELS[slot]}</label>
            <div className="zingy-nb-field-row">
              <input
                id={id(slot)}
                className="jp-mod-styled"
                type="password"
                name={`zingy-nb-${slot}`}
                autoComplete="new-password"
                aria-required={!optional && !existing ? true : undefined}
                placeholder={placeholder(existing, slot)}
                value={values[slot]}
                onChange={event => props.onValueChange(slot, event.target.value)}
              />
              {optional && (
                <span className="zingy-nb-clear">
                  <input
                    id={id(`clear-${slot}`)}
                    type="checkbox"
                    aria-label={`Clear slot ${slot.slice(-1)}`}
                    checked={clears[slot as OptionalSlot]}
                    onChange={event =>
                      props.onClearChange(
                        slot as OptionalSlot,
                        event.target.checked
                      )
                    }
                  />
                  <label htmlFor={id(`clear-${slot}`)}>
                    clear
                  </label>
                </span>
              )}
            </div>
          </div>
        );
      })}
      <p className="zingy-nb-hint">
        Values are write-only: they are sent to the server and never shown again.
        {existing
          ? ' Leave a field empty to keep its stored value; tick "clear" to remove it.'
          : ' Secret is required for a new profile.'}
      </p>
      <div className="zingy-nb-form-buttons">
        <button
          type="submit"
          className="jp-Button jp-mod-styled jp-mod-accept"
          disabled={busy}
        >
          Save
        </button>
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-reject"
          onClick={props.onReset}
        >
          Clear form
        </button>
      </div>
    </form>
  );
}
