import type { Dispatcher } from "undici";

// One HTTP request through an undici dispatcher, with its answer collected as text: the part of
// http-transport that runs for every push. Through dispatch() with a handler of our own rather than
// undici's request(): that one wraps every answer in a Readable stream, and its abort wiring needs an
// AbortSignal per request: together about a third of the client's CPU time per request.
// The handler interface is undici's documented one for dispatch(); it changes only with a
// major release, and package.json pins the version.

/** Any HTTP answer, whatever its status. */
export interface HttpAnswer {
  readonly status: number;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Raw text, never parsed here. */
  readonly body: string;
}

/** What a request rejects with when its own deadline or the caller's signal ended it first. */
export const TIMED_OUT = "ETIMEDOUT";
export const CANCELED = "ERR_CANCELED";
/** HTTP/2 (APNs): the server refused the stream, so it never processed the request. */
export const REFUSED_STREAM = "REFUSED_STREAM";

/**
 * Sends one request and resolves with the answer, whatever its status; rejects when there is none: a
 * transport error from undici as it came, or an error coded TIMED_OUT / CANCELED as soon as the deadline
 * passes or the caller's signal fires, even while the request still waits for a free connection (it is
 * then never sent).
 */
export function exchange(
  dispatcher: Dispatcher,
  request: Dispatcher.DispatchOptions,
  { timeoutMs, signal }: { timeoutMs: number; signal: AbortSignal | undefined },
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    let controller: Dispatcher.DispatchController | undefined;
    let stoppedBy: Error | undefined;
    let settled = false;
    let status = 0;
    let headers: HttpAnswer["headers"] = {};
    const chunks: Buffer[] = [];

    const settle = () => {
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const stop = (err: Error) => {
      if (settled) return;
      settle();
      reject(err);
      stoppedBy = err;
      controller?.abort(err);
    };
    const onAbort = () => stop(withCode(CANCELED, "the request was aborted", signal?.reason));
    const timer = setTimeout(() => stop(withCode(TIMED_OUT, `no answer within ${timeoutMs} ms`)), timeoutMs);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });

    dispatcher.dispatch(request, {
      onRequestStart(c) {
        controller = c;
        if (stoppedBy !== undefined) c.abort(stoppedBy);
      },
      onResponseStart(_c, statusCode, responseHeaders) {
        status = statusCode;
        headers = responseHeaders;
      },
      onResponseData(_c, chunk) {
        chunks.push(chunk);
      },
      onResponseEnd() {
        if (settled) return;
        settle();
        const answer = { status, headers, body: Buffer.concat(chunks).toString("utf8") };
        handOver(() => resolve(answer));
      },
      onResponseError(_c, err) {
        if (settled) return;
        settle();
        reject(err);
      },
    });
  });
}

/** An error carrying one of the codes transportOutcome (http-transport) classifies. */
export function withCode(code: string, message: string, cause?: unknown): Error {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { code });
}

// Answers are handed over together, once per event-loop turn, after every connection with data has been
// read (setImmediate runs after the poll phase): what their callers write next (the XMPP replies, the
// audit rows) then leaves in one write instead of one per answer, as it does for APNs, whose HTTP/2
// answers come many to a read.
let handOvers: Array<() => void> = [];
function handOver(fn: () => void): void {
  if (handOvers.length === 0) setImmediate(runHandOvers);
  handOvers.push(fn);
}
function runHandOvers(): void {
  const due = handOvers;
  handOvers = [];
  for (const fn of due) fn();
}
