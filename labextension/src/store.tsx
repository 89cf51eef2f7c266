import * as React from 'react';

import { IStoreStatus } from './profiles';

/**
 * Say where the key that opens the store comes from, in a newcomer's words.
 *
 * @param source - `key_source` of `GET status`: `env`, `keyring`, `file` or `none`
 * @param kind - `key_kind` of `GET status`: `master` (the embedded store's key)
 *   or `member` (a team store: the member's own key)
 * @returns a short phrase, e.g. `key from the OS keyring`
 */
export function keySourceText(source: string, kind = 'master'): string {
  if (kind === 'member') {
    switch (source) {
      case 'env':
        return 'your member key from ZINGY_NB_MEMBER_KEY';
      case 'keyring':
        return 'your member key from the OS keyring';
      case 'file':
        return 'your member key from a key file';
      case 'none':
        return 'not joined yet: run zingy-nb team join';
      default:
        return `your member key from ${source}`;
    }
  }
  switch (source) {
    case 'env':
      return 'key from ZINGY_NB_MASTER_KEY';
    case 'keyring':
      return 'key from the OS keyring';
    case 'file':
      return 'key from a key file';
    case 'none':
      return 'no key yet';
    default:
      return `key from ${source}`;
  }
}

/** Props of {@link StoreSummary}. */
export interface IStoreSummaryProps {
  store: IStoreStatus;
}

/**
 * The profile count, the key's source and the store's location. A long
 * location is cut with an ellipsis; its tooltip holds it whole.
 */
export function StoreSummary(props: IStoreSummaryProps): JSX.Element {
  const { store } = props;
  const count = `${store.profiles} profile${store.profiles === 1 ? '' : 's'}`;
  return (
    <div className="zingy-nb-store">
      <p className="zingy-nb-store-summary">
        {`${count} \u00b7 ${keySourceText(store.key_source, store.key_kind)}`}
      </p>
      <p className="zingy-nb-store-path" title={store.store}>
        {store.store}
      </p>
    </div>
  );
}
