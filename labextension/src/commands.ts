/** Command ids of the extension. */
export namespace CommandIDs {
  /** Open (activate) the API Keys sidebar. */
  export const openSidebar = 'zingy-nb:open-sidebar';
  /** Open the sidebar with an empty form, focused on the profile name. */
  export const newProfile = 'zingy-nb:new-profile';
}

/** Command palette category of the extension's commands. */
export const PALETTE_CATEGORY = 'API Keys';

/**
 * Wait until the command palette has re-activated the previous widget.
 *
 * The modal palette re-activates the current widget right after a command
 * runs, which would take the focus back; activating our panel after this
 * keeps the focus in it.
 *
 * @returns a promise resolved on the next animation frame
 */
export function afterPaletteRestore(): Promise<void> {
  return new Promise(resolve => requestAnimationFrame(() => resolve()));
}
