import { Dialog, showDialog } from '@jupyterlab/apputils';
import {
  ReactWidget,
  refreshIcon,
  ToolbarButtonComponent
} from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { ChangeWatch } from './changewatch';
import { keyIcon } from './icon';
import { ProfilesModel } from './model';
import {
  NO_CLEARS,
  NO_VALUES,
  ProfileForm,
  SlotClears,
  SlotValues
} from './profileform';
import { ProfileList } from './profilelist';
import { StoreSummary } from './store';

/** Id of the API Keys sidebar widget. */
export const SIDEBAR_ID = 'zingy-nb-sidebar';

let instances = 0;

/** Re-render a component whenever the model changes. */
function useModel(model: ProfilesModel): void {
  const [, setTick] = React.useState(0);
  React.useEffect(() => {
    const onChange = () => setTick(tick => tick + 1);
    model.changed.connect(onChange);
    return () => {
      model.changed.disconnect(onChange);
    };
  }, [model]);
}

/** Props of {@link ApiKeysComponent}. */
export interface IApiKeysProps {
  model: ProfilesModel;
  idPrefix: string;
}

/**
 * Content of the API Keys sidebar: the profile list, the form, the status line.
 */
export function ApiKeysComponent(props: IApiKeysProps): JSX.Element {
  const { model, idPrefix } = props;
  useModel(model);

  const [name, setName] = React.useState('');
  const [values, setValues] = React.useState<SlotValues>(NO_VALUES);
  const [clears, setClears] = React.useState<SlotClears>(NO_CLEARS);
  const nameRef = React.useRef<HTMLInputElement>(null);
  const handledRequests = React.useRef(0);

  const resetForm = (focus: boolean) => {
    setName('');
    setValues(NO_VALUES);
    setClears(NO_CLEARS);
    if (focus) {
      nameRef.current?.focus();
    }
  };

  React.useEffect(() => {
    if (model.newProfileRequests !== handledRequests.current) {
      handledRequests.current = model.newProfileRequests;
      resetForm(true);
    }
  });

  const trimmedName = name.trim();
  const existing = model.find(trimmedName);

  const select = (profileName: string) => {
    setName(profileName);
    setValues(NO_VALUES);
    setClears(NO_CLEARS);
  };

  const save = async () => {
    // The name is checked first (by the model); whatever fails, what was typed
    // stays, to be fixed and saved again. Only a successful save empties it.
    if (await model.save(trimmedName, values, clears)) {
      setValues(NO_VALUES);
      setClears(NO_CLEARS);
    }
  };

  const remove = async (profileName: string) => {
    const result = await showDialog({
      title: 'Delete API Key profile',
      body: `Delete the profile "${profileName}" and all its secret values? This cannot be undone.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!result.button.accept) {
      return;
    }
    if ((await model.remove(profileName)) && name.trim() === profileName) {
      resetForm(false);
    }
  };

  const store = model.storeStatus;
  const status = model.status;
  return (
    <div className="zingy-nb-sidebar-content" aria-busy={model.busy}>
      <div className="zingy-nb-header">
        <h2 className="zingy-nb-title">API Keys</h2>
        <div className="zingy-nb-header-actions">
          <ToolbarButtonComponent
            icon={refreshIcon}
            tooltip="Refresh the profile list"
            enabled={!model.busy}
            onClick={() => void model.refresh()}
          />
        </div>
      </div>
      {store && <StoreSummary store={store} />}
      <section className="zingy-nb-section">
        {model.loaded ? (
          <ProfileList
            profiles={model.profiles}
            selected={existing ? existing.name : null}
            busy={model.busy}
            onSelect={select}
            onDelete={profileName => void remove(profileName)}
            allowances={profileName => model.allowances(profileName)}
            onDisallow={allowance => void model.removeAllowance(allowance)}
          />
        ) : (
          <p className="zingy-nb-empty">
            {model.busy ? 'Loading profiles\u2026' : 'Profiles not loaded yet.'}
          </p>
        )}
      </section>
      <ProfileForm
        idPrefix={idPrefix}
        name={name}
        values={values}
        clears={clears}
        existing={existing}
        busy={model.busy}
        nameRef={nameRef}
        onNameChange={setName}
        onValueChange={(slot, value) =>
          setValues(previous => ({ ...previous, [slot]: value }))
        }
        onClearChange={(slot, clear) =>
          setClears(previous => ({ ...previous, [slot]: clear }))
        }
        onSave={() => void save()}
        onReset={() => resetForm(true)}
      />
      <p
        className="zingy-nb-status"
        role="status"
        data-kind={status?.kind ?? 'info'}
      >
        {status?.text ?? ''}
      </p>
    </div>
  );
}

/**
 * The "API Keys" left sidebar. It reloads the profile list each time it is
 * shown, and follows the store's changes while it stays visible.
 */
export class ApiKeysPanel extends ReactWidget {
  /**
   * @param model - shared sidebar state (also driven by commands)
   */
  constructor(model: ProfilesModel) {
    super();
    this.model = model;
    this.id = SIDEBAR_ID;
    this.addClass('zingy-nb-sidebar');
    this.title.icon = keyIcon;
    this.title.caption = 'API Keys';
    this.title.label = '';
    this._idPrefix = `zingy-nb-${++instances}`;
    this._watch = new ChangeWatch(async () => {
      if (!this.model.busy) {
        await this.model.refresh();
      }
    });
  }

  /** The sidebar's state. */
  readonly model: ProfilesModel;

  protected render(): JSX.Element {
    return <ApiKeysComponent model={this.model} idPrefix={this._idPrefix} />;
  }

  /**
   * Start a new profile: the form is emptied, and the profile name field gets
   * the focus when the panel is next activated (`shell.activateById`).
   */
  startNewProfile(): void {
    this._focusNamePending = true;
    this.model.requestNewProfile();
  }

  /** Move the focus to the profile name field, if it is rendered. */
  focusName(): boolean {
    const input = this.node.querySelector<HTMLInputElement>(
      'input[name="profile-name"]'
    );
    input?.focus();
    return !!input;
  }

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    if (this._focusNamePending || !this.node.contains(document.activeElement)) {
      // If the form is not rendered yet, it focuses itself on mount.
      this.focusName();
      this._focusNamePending = false;
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (!this.model.busy) {
      void this.model.refresh();
    }
    this._watch.start();
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._watch.stop();
  }

  dispose(): void {
    this._watch.stop();
    super.dispose();
  }

  private _idPrefix: string;
  private _watch: ChangeWatch;
  private _focusNamePending = false;
}
