import { Notification } from '@jupyterlab/apputils';
import { Event } from '@jupyterlab/services';

/** Schema id of the server's "secret values scrubbed from a saved file" event. */
export const SCRUB_EVENT_SCHEMA =
  'https://zingy.ai/zingy-nb/events/secret-scrubbed';

/**
 * Text of the warning for a scrub event, or `null` if the emission is another event.
 *
 * The server's event websocket sends the event data next to `schema_id`; a
 * nested `data` object is accepted too.
 *
 * @param emission - one event from `serviceManager.events.stream`
 * @returns the message to show, or `null`
 */
export function scrubMessage(emission: Event.Emission): string | null {
  if (emission.schema_id !== SCRUB_EVENT_SCHEMA) {
    return null;
  }
  const nested = emission['data'];
  const data =
    nested && typeof nested === 'object' && !Array.isArray(nested)
      ? (nested as Record<string, unknown>)
      : (emission as Record<string, unknown>);
  const path = typeof data.path === 'string' ? data.path : 'a file';
  const count = typeof data.count === 'number' ? data.count : 0;
  const lines = typeof data.lines === 'number' ? data.lines : 0;
  const done: string[] = [];
  if (count > 0) {
    done.push(
      `${plural(count, 'stored secret value')} replaced by [REDACTED]`
    );
  }
  if (lines > 0) {
    done.push(
      `${plural(lines, '%zingy_apikey line')} cut to what the magic accepts ` +
        `(${lines === 1 ? 'it' : 'they'} held what may be a secret)`
    );
  }
  if (done.length === 0) {
    return null;
  }
  return `Saved "${path}" with ${done.join(', and ')}.`;
}

/**
 * A count and a noun, e.g. `1 line` or `3 lines`.
 *
 * @param n - how many
 * @param noun - the noun in the singular
 * @returns the phrase
 */
function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/**
 * Show a warning notification for every scrub event of the server.
 *
 * @param events - the event manager (`app.serviceManager.events`)
 */
export function notifyOnScrub(events: Event.IManager): void {
  events.stream.connect((_, emission) => {
    const message = scrubMessage(emission);
    if (message) {
      Notification.warning(message, { autoClose: 10000 });
    }
  });
}
