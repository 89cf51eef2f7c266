import { KernelSpec } from '@jupyterlab/services';

/** Flow mode of a kernel, as its kernelspec declares it. */
export type FlowMode = 'cloud-flow' | 'page-flow' | 'none';

/** Text shown in the status bar for each mode. */
export const FLOW_LABELS: Record<FlowMode, string> = {
  'cloud-flow': 'Cloud Flow',
  'page-flow': 'Page Flow',
  none: 'No flow'
};

const KERNELSPEC_NOTE =
  'This shows what the kernelspec says: a kernel flagged from inside with ' +
  '%zingy_apikey still shows its kernelspec\u2019s mode.';

/** Tooltip for each mode. */
export const FLOW_TOOLTIPS: Record<FlowMode, string> = {
  'cloud-flow':
    'Cloud Flow: this kernel may retrieve API Key profiles with zingyConn.apikey().',
  'page-flow':
    'Page Flow: a prototype of browser-side code; every API Key retrieval is refused.',
  none:
    'No flow: an unflagged kernel; API Key retrieval is refused until the kernel ' +
    'is flagged once with %zingy_apikey flow cloud-flow.'
};

/**
 * Build the tooltip of the flow status item.
 *
 * @param mode - the flow mode shown
 * @param kernelName - the kernelspec name, if a kernel is known
 * @returns a tooltip explaining the mode and where it comes from
 */
export function flowTooltip(mode: FlowMode, kernelName?: string): string {
  const source = kernelName
    ? `Kernelspec: ${kernelName}.`
    : 'No notebook or console kernel is active.';
  return `${FLOW_TOOLTIPS[mode]}\n${source}\n${KERNELSPEC_NOTE}`;
}

/**
 * Read the flow mode from a kernelspec's `metadata.zingy_nb.flow`.
 *
 * @param spec - a kernelspec model, or nothing
 * @returns `'cloud-flow'`, `'page-flow'`, or `'none'` for anything else
 */
export function flowModeOfSpec(
  spec: KernelSpec.ISpecModel | null | undefined
): FlowMode {
  const zingy = spec?.metadata?.['zingy_nb'];
  if (zingy && typeof zingy === 'object' && !Array.isArray(zingy)) {
    const flow = (zingy as { flow?: unknown }).flow;
    if (flow === 'cloud-flow' || flow === 'page-flow') {
      return flow;
    }
  }
  return 'none';
}

/**
 * Look up the flow mode of a kernel by its kernelspec name.
 *
 * @param specs - the server's kernelspecs (`serviceManager.kernelspecs.specs`)
 * @param kernelName - the kernel's kernelspec name
 * @returns the flow mode; `'none'` when the name or spec is unknown
 */
export function flowModeOfKernel(
  specs: KernelSpec.ISpecModels | null | undefined,
  kernelName: string | null | undefined
): FlowMode {
  if (!specs || !kernelName) {
    return 'none';
  }
  return flowModeOfSpec(specs.kernelspecs[kernelName]);
}
