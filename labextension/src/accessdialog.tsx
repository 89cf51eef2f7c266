import { Dialog } from '@jupyterlab/apputils';
import * as React from 'react';

import { IAccessRequest } from './accessprompt';

/** Label of the dialog's button that allows. */
export const ALLOW_LABEL = 'Allow';

/** Label of the dialog's button that denies. */
export const DENY_LABEL = 'Deny';

/**
 * The dialog's title.
 *
 * @param request - what is asked (by a kernel on its stdin, or by the agent)
 * @returns e.g. `Allow a notebook to read "stripe"?`
 */
export function accessTitle(request: IAccessRequest): string {
  return `Allow a notebook to read "${request.profile}"?`;
}

/**
 * The dialog's body: the notebook and the profile, and what each answer does.
 *
 * @param props - `request`: what is asked
 * @returns the body element
 */
export function AccessDialogBody(props: {
  request: IAccessRequest;
}): JSX.Element {
  const { notebook, profile } = props.request;
  return (
    <div className="zingy-nb-access">
      <p>
        The notebook{' '}
        <code className="zingy-nb-access-notebook">{notebook}</code> asks to
        read the API Key profile{' '}
        <code className="zingy-nb-access-profile">{profile}</code>.
      </p>
      <p className="zingy-nb-access-note">
        {ALLOW_LABEL} is remembered for this notebook (remove it in the API Keys
        sidebar). {DENY_LABEL} is not: the next run asks again. The cell waits
        for your answer.
      </p>
    </div>
  );
}

/**
 * A modal dialog asking whether a notebook may read a profile. Deny is the
 * default button, and Escape denies too.
 *
 * @param request - what is asked (by a kernel on its stdin, or by the agent)
 * @returns the dialog, not launched yet; its result's `button.accept` means Allow
 */
export function createAccessDialog(request: IAccessRequest): Dialog<void> {
  return new Dialog<void>({
    title: accessTitle(request),
    body: <AccessDialogBody request={request} />,
    buttons: [
      Dialog.cancelButton({ label: DENY_LABEL }),
      Dialog.okButton({ label: ALLOW_LABEL })
    ],
    defaultButton: 0,
    hasClose: true
  });
}
