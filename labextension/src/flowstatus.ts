import { ISessionContext } from '@jupyterlab/apputils';
import { KernelSpec } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { FLOW_LABELS, FlowMode, flowModeOfKernel, flowTooltip } from './flow';

/**
 * The session context of a notebook or console panel.
 *
 * @param widget - any shell widget
 * @returns its `sessionContext`, or `null` if it has none
 */
export function sessionContextOf(widget: Widget | null): ISessionContext | null {
  const context = (widget as { sessionContext?: ISessionContext } | null)
    ?.sessionContext;
  return context && typeof context === 'object' && 'kernelChanged' in context
    ? context
    : null;
}

/**
 * Status bar item showing the flow mode of the active kernel's kernelspec.
 *
 * Its node has the class `zingy-nb-flow-status` and a `data-flow` attribute
 * (`cloud-flow`, `page-flow` or `none`). It has something to show only while
 * the session it follows has a kernel: register it with `isActive` bound to
 * {@link FlowStatus.hasKernel} and `activeStateChanged`, so the status bar hides
 * it otherwise (the Launcher, a text file, a notebook with no kernel).
 */
export class FlowStatus extends Widget {
  /**
   * @param kernelspecs - the kernelspec manager, for specs and their refreshes
   */
  constructor(kernelspecs: KernelSpec.IManager) {
    super();
    this._kernelspecs = kernelspecs;
    this.addClass('zingy-nb-flow-status');
    this._label = document.createElement('span');
    this._label.className = 'zingy-nb-flow-status-label';
    this.node.appendChild(this._label);
    kernelspecs.specsChanged.connect(this._render, this);
    this._render();
  }

  /** The mode currently shown. */
  get mode(): FlowMode {
    return this._mode;
  }

  /** Whether the followed session has a kernel, i.e. whether there is a mode to show. */
  get hasKernel(): boolean {
    return this._hasKernel;
  }

  /** Emitted when {@link FlowStatus.hasKernel} changes. */
  get activeStateChanged(): ISignal<this, void> {
    return this._activeStateChanged;
  }

  /**
   * Follow another session (or none): the item updates when its kernel changes.
   *
   * @param context - the session context of the active notebook or console
   */
  setSessionContext(context: ISessionContext | null): void {
    if (context === this._context) {
      return;
    }
    if (this._context) {
      this._context.kernelChanged.disconnect(this._render, this);
      this._context.sessionChanged.disconnect(this._render, this);
      this._context.disposed.disconnect(this._onContextDisposed, this);
    }
    this._context = context;
    if (context) {
      context.kernelChanged.connect(this._render, this);
      context.sessionChanged.connect(this._render, this);
      context.disposed.connect(this._onContextDisposed, this);
    }
    this._render();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.setSessionContext(null);
    this._kernelspecs.specsChanged.disconnect(this._render, this);
    super.dispose();
  }

  private _onContextDisposed(): void {
    this.setSessionContext(null);
  }

  private _render(): void {
    const kernelName = this._context?.session?.kernel?.name;
    const mode = flowModeOfKernel(this._kernelspecs.specs, kernelName);
    this._mode = mode;
    this._label.textContent = FLOW_LABELS[mode];
    this.node.dataset.flow = mode;
    this.node.title = flowTooltip(mode, kernelName);
    const hasKernel = !!kernelName;
    if (hasKernel !== this._hasKernel) {
      this._hasKernel = hasKernel;
      this._activeStateChanged.emit();
    }
  }

  private _kernelspecs: KernelSpec.IManager;
  private _context: ISessionContext | null = null;
  private _label: HTMLSpanElement;
  private _mode: FlowMode = 'none';
  private _hasKernel = false;
  private _activeStateChanged = new Signal<this, void>(this);
}
