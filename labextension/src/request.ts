import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/**
 * Call the zingy-nb server extension's REST API.
 *
 * The URL is `<baseUrl>/zingy-nb/api/<endPoint>`; `ServerConnection.makeRequest`
 * adds the auth token and the XSRF header.
 *
 * @param endPoint - API path below `zingy-nb/api/`, already URL-encoded
 * @param init - initial values for the request (method, body...)
 * @returns the parsed JSON body, or `undefined` for an empty body (e.g. 204)
 * @throws ServerConnection.NetworkError when the server cannot be reached
 * @throws ServerConnection.ResponseError on a non-OK status, carrying the
 *   server's `{"message": ...}` as its message
 */
export async function requestAPI<T>(
  endPoint = '',
  init: RequestInit = {}
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const requestUrl = URLExt.join(settings.baseUrl, 'zingy-nb', 'api', endPoint);

  let response: Response;
  try {
    response = await ServerConnection.makeRequest(requestUrl, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }

  const text = await response.text();
  let data: any = text;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      // Not JSON (e.g. an HTML error page): keep the text.
    }
  }

  if (!response.ok) {
    const message =
      data && typeof data === 'object' && typeof data.message === 'string'
        ? data.message
        : `Request to ${endPoint} failed with status ${response.status} ${response.statusText}`.trim();
    throw new ServerConnection.ResponseError(response, message);
  }

  return (text.length > 0 ? data : undefined) as T;
}

/**
 * A user-facing text for an error thrown by `requestAPI` or by client-side checks.
 *
 * @param error - anything caught
 * @returns the error's message, or a generic text
 */
export function errorMessage(error: unknown): string {
  if (error instanceof ServerConnection.NetworkError) {
    return 'Cannot reach the Jupyter server. Check that it is running, then try again.';
  }
  if (error instanceof Error && error.message) {
    return error.message;
  }
  return 'Unexpected error.';
}
