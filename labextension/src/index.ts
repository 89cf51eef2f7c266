import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { NotebookActions } from '@jupyterlab/notebook';
import { IStatusBar } from '@jupyterlab/statusbar';

import { AccessPrompts } from './accesswatch';
import { AgentAsks } from './agentasks';
import { afterPaletteRestore, CommandIDs, PALETTE_CATEGORY } from './commands';
import { FlowStatus, sessionContextOf } from './flowstatus';
import { ProfilesModel } from './model';
import { notifyOnScrub } from './scrub';
import { ApiKeysPanel } from './sidebar';

/**
 * Status bar item with the flow mode of the active widget's kernelspec. It
 * follows the shell's current widget only: with no kernel there (the Launcher,
 * a text file), the item is hidden rather than left showing an earlier notebook.
 */
const flowStatusPlugin: JupyterFrontEndPlugin<void> = {
  id: 'zingy-nb:flow-status',
  description: 'Shows the flow mode (Cloud Flow, Page Flow, No flow) of the active kernel.',
  autoStart: true,
  optional: [IStatusBar, ILabShell],
  activate: (
    app: JupyterFrontEnd,
    statusBar: IStatusBar | null,
    labShell: ILabShell | null
  ) => {
    if (!statusBar) {
      return;
    }
    const item = new FlowStatus(app.serviceManager.kernelspecs);
    const update = () => {
      item.setSessionContext(sessionContextOf(app.shell.currentWidget));
    };
    const currentChanged = labShell?.currentChanged ?? app.shell.currentChanged;
    currentChanged?.connect(update);
    void app.serviceManager.kernelspecs.ready.then(update);
    update();
    statusBar.registerStatusItem('zingy-nb:flow-status', {
      item,
      align: 'left',
      rank: 4,
      isActive: () => item.hasKernel,
      activeStateChanged: item.activeStateChanged
    });
  }
};

/** The kernels' notebook-access questions, shared by the plugins below. */
const accessPrompts = new AccessPrompts();

/**
 * Asks "may this notebook read this profile?" in a dialog instead of the
 * cell's input box (the kernel asks on the stdin channel; see AccessPrompts).
 */
const notebookAccessPlugin: JupyterFrontEndPlugin<void> = {
  id: 'zingy-nb:notebook-access',
  description:
    'Asks in a dialog (Allow / Deny) when a notebook first reads a profile.',
  autoStart: true,
  activate: () => {
    accessPrompts.watchExecutions(NotebookActions.executionScheduled);
  }
};

/**
 * Asks, in the same dialog, the questions of the zingy-nb agent, which judges
 * the kernels started by a zingy launcher (see AgentAsks).
 */
const agentAsksPlugin: JupyterFrontEndPlugin<void> = {
  id: 'zingy-nb:agent-asks',
  description:
    'Shows the zingy-nb agent\'s notebook-access questions (Allow / Deny).',
  autoStart: true,
  activate: () => {
    new AgentAsks().start();
  }
};

/**
 * The "API Keys" left sidebar and its commands.
 */
const sidebarPlugin: JupyterFrontEndPlugin<void> = {
  id: 'zingy-nb:sidebar',
  description: 'A left sidebar to manage API Key profiles (write-only).',
  autoStart: true,
  optional: [ICommandPalette, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ) => {
    const model = new ProfilesModel();
    const panel = new ApiKeysPanel(model);
    app.shell.add(panel, 'left', { rank: 900 });
    restorer?.add(panel, panel.id);
    // Once a cell the dialog allowed has finished, its allowance is stored.
    accessPrompts.decided.connect((_, decision) => {
      if (decision.answer === 'allow') {
        void decision.finished.then(() => {
          if (panel.isVisible && !model.busy) {
            void model.refresh();
          }
        });
      }
    });

    app.commands.addCommand(CommandIDs.openSidebar, {
      label: 'Open API Keys',
      caption: 'Open the API Keys sidebar',
      execute: async () => {
        await afterPaletteRestore();
        app.shell.activateById(panel.id);
      }
    });
    app.commands.addCommand(CommandIDs.newProfile, {
      label: 'New API Key Profile',
      caption: 'Open the API Keys sidebar with an empty profile form',
      execute: async () => {
        panel.startNewProfile();
        await afterPaletteRestore();
        app.shell.activateById(panel.id);
      }
    });
    if (palette) {
      for (const command of [CommandIDs.openSidebar, CommandIDs.newProfile]) {
        palette.addItem({ command, category: PALETTE_CATEGORY });
      }
    }
  }
};

/**
 * Warn when the server replaced secret values by [REDACTED] in a saved file.
 */
const scrubPlugin: JupyterFrontEndPlugin<void> = {
  id: 'zingy-nb:scrub-notifications',
  description: 'Notifies when secret values were scrubbed from a saved file.',
  autoStart: true,
  activate: (app: JupyterFrontEnd) => {
    notifyOnScrub(app.serviceManager.events);
  }
};

export default [
  flowStatusPlugin,
  notebookAccessPlugin,
  agentAsksPlugin,
  sidebarPlugin,
  scrubPlugin
];
