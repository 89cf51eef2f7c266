import { LabIcon } from '@jupyterlab/ui-components';

const keySvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <path class="jp-icon3" fill="#616161" d="M7 14a2 2 0 1 1 0-4 2 2 0 0 1 0 4zm5.65-4A6 6 0 1 0 12.65 14H17v4h4v-4h2v-4H12.65z"/>
</svg>`;

/** Key icon of the API Keys sidebar. */
export const keyIcon = new LabIcon({ name: 'zingy-nb:key', svgstr: keySvg });
