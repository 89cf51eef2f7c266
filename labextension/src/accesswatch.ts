import { Kernel } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { createAccessDialog } from './accessdialog';
import {
  AccessAnswer,
  answerStdin,
  decisionLine,
  IAccessRequest,
  isAnsweredPrompt,
  parseAccessPrompt,
  promptOf
} from './accessprompt';
import { sessionContextOf } from './flowstatus';

/** The input widget JupyterLab's output area creates for an `input_request`. */
type StdinWidget = Widget & { readonly value: Promise<string> };

/** One output of an output area's model, as JSON. */
interface IOutputJSON {
  readonly output_type: string;
  readonly name?: string;
  readonly text?: string | string[];
}

/** What this module needs of an output area's model. */
interface IOutputListLike {
  readonly length: number;
  get(index: number): { toJSON(): IOutputJSON };
  set(index: number, output: IOutputJSON): void;
}

/** What this module needs of a code cell's `OutputArea`. */
interface IOutputAreaLike {
  readonly inputRequested: ISignal<unknown, StdinWidget>;
  readonly future: { readonly done: Promise<unknown> } | null | undefined;
  readonly model?: IOutputListLike;
}

/**
 * Replace JupyterLab's record of the question and its answer (a `stdin` stream
 * output, which the notebook would save) by one line saying what was decided.
 *
 * @param area - the output area that asked
 * @param request - what was asked
 * @param answer - what was answered
 */
function recordDecision(
  area: IOutputAreaLike,
  request: IAccessRequest,
  answer: AccessAnswer
): void {
  const model = area.model;
  for (let i = (model?.length ?? 0) - 1; model && i >= 0; i--) {
    const output = model.get(i).toJSON();
    const text = Array.isArray(output.text)
      ? output.text.join('')
      : (output.text ?? '');
    if (
      output.output_type === 'stream' &&
      output.name === 'stdin' &&
      isAnsweredPrompt(text)
    ) {
      model.set(i, {
        output_type: 'stream',
        name: 'stdin',
        text: decisionLine(request, answer)
      });
      return;
    }
  }
}

/** The kernel connection an output area's requests come from, when known. */
type KernelOf = () => Kernel.IKernelConnection | null | undefined;

/** One answered question, and the end of the cell that asked it. */
export interface IAccessDecision {
  request: IAccessRequest;
  answer: AccessAnswer;
  /** Settles when the asking cell has finished (its reply has arrived). */
  finished: Promise<void>;
}

function outputAreaOf(cell: unknown): IOutputAreaLike | null {
  const area = (cell as { outputArea?: Partial<IOutputAreaLike> } | null)
    ?.outputArea;
  return area && typeof area.inputRequested?.connect === 'function'
    ? (area as IOutputAreaLike)
    : null;
}

/**
 * Turns the kernel's notebook-access prompts into dialogs.
 *
 * A cloud-flow kernel asks whether a notebook may read a profile with an
 * `input_request` on the stdin channel (see `zingy_nb/kernel/access_prompt.py`).
 * JupyterLab's output area shows such a request as an input box in the cell;
 * for a zingy-nb prompt this class hides that box, shows a dialog instead, and
 * answers through the box (so the reply goes to the same request on the same
 * channel). JupyterLab records the question and its answer in the cell, which
 * the notebook would save: that record becomes one line saying what was
 * decided. When the cell ends first (the kernel stopped waiting, or was
 * interrupted), the dialog closes unanswered. Any other prompt is left alone.
 */
export class AccessPrompts {
  /** Emitted when a question was answered from the dialog. */
  get decided(): ISignal<this, IAccessDecision> {
    return this._decided;
  }

  /**
   * Watch the cells whose execution is scheduled (each once).
   *
   * @param scheduled - `NotebookActions.executionScheduled`
   */
  watchExecutions(
    scheduled: ISignal<unknown, { notebook: unknown; cell: unknown }>
  ): void {
    scheduled.connect((_, args) => {
      const area = outputAreaOf(args.cell);
      if (area) {
        const notebook = args.notebook as Widget | null;
        this.watchOutputArea(
          area,
          () => sessionContextOf(notebook?.parent ?? null)?.session?.kernel
        );
      }
    });
  }

  /**
   * Watch one output area's input requests (idempotent).
   *
   * @param area - a code cell's output area
   * @param kernelOf - its kernel connection, whose input guard is lifted when
   *   a cell ends with its question unanswered
   */
  watchOutputArea(area: IOutputAreaLike, kernelOf: KernelOf = () => null): void {
    if (this._watched.has(area)) {
      return;
    }
    this._watched.add(area);
    area.inputRequested.connect((_, stdin) => {
      void this._onInputRequested(area, stdin, kernelOf);
    });
  }

  private async _onInputRequested(
    area: IOutputAreaLike,
    stdin: StdinWidget,
    kernelOf: KernelOf
  ): Promise<void> {
    const request = parseAccessPrompt(promptOf(stdin));
    if (!request) {
      return;
    }
    const box = stdin.parent ?? stdin;
    const finished = (area.future?.done ?? new Promise<never>(() => {})).then(
      () => undefined,
      () => undefined
    );
    const dialog = createAccessDialog(request);
    let over = false;
    const close = () => {
      over = true;
      dialog.reject();
    };
    void finished.then(close);
    stdin.disposed.connect(close);
    box.hide();
    let allowed = false;
    try {
      allowed = (await dialog.launch()).button.accept;
    } catch {
      over = true; // disposed: nothing to answer
    } finally {
      stdin.disposed.disconnect(close);
    }
    if (over) {
      // The kernel no longer waits: without this, JupyterLab would refuse to run
      // another cell until the (hidden) input box is answered.
      void finished.then(() => kernelOf()?.removeInputGuard());
      return;
    }
    const answer: AccessAnswer = allowed ? 'allow' : 'deny';
    if (!(await answerStdin(stdin, answer))) {
      // Not JupyterLab's own input widget: let the person answer in the cell.
      box.show();
      return;
    }
    // JupyterLab has recorded the exchange in the cell (when the answer was taken).
    recordDecision(area, request, answer);
    this._decided.emit({ request, answer, finished });
  }

  private _decided = new Signal<this, IAccessDecision>(this);
  private _watched = new WeakSet<IOutputAreaLike>();
}
