// A small incremental parser of the Server-Sent Events wire format (WHATWG HTML, "Parsing an event stream").
// The SDK reads SSE through fetch rather than EventSource because EventSource cannot send an Authorization header
// and gives no control over reconnection; so the parsing that EventSource would do is done here. Browser-safe:
// no node: imports, only TextDecoder and ReadableStream.

export interface SseMessage {
  /** The last event ID in force when this message was dispatched ('' when none was ever set). */
  id: string;
  /** The `event:` field, or `message` when absent. */
  event: string;
  /** The `data:` lines joined with '\n'. */
  data: string;
}

export class SseParser {
  #pending = '';
  #data = '';
  #hasData = false;
  #event = '';
  #lastEventId = '';
  #retry: number | null = null;
  #sawCR = false;
  #started = false;

  /** The last event ID seen so far, even if no message carrying it has been dispatched yet. */
  get lastEventId(): string {
    return this.#lastEventId;
  }

  /** The most recent valid `retry:` value in ms, or null. */
  get retry(): number | null {
    return this.#retry;
  }

  /** Feeds decoded text; returns the messages completed by it. An incomplete trailing message waits for more text. */
  push(text: string): SseMessage[] {
    if (!this.#started && text.length > 0) {
      this.#started = true;
      // The stream may start with one U+FEFF, which is not part of the first field name.
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    // A CR that ended the previous chunk and an LF that starts this one are one line break.
    if (this.#sawCR && text.startsWith('\n')) text = text.slice(1);
    this.#sawCR = false;
    const out: SseMessage[] = [];
    let buffer = this.#pending + text;
    let start = 0;
    for (let i = 0; i < buffer.length; i++) {
      const c = buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.#line(buffer.slice(start, i), out);
      if (c === 13) {
        if (i + 1 < buffer.length) {
          if (buffer.charCodeAt(i + 1) === 10) i++;
        } else {
          this.#sawCR = true;
        }
      }
      start = i + 1;
    }
    buffer = buffer.slice(start);
    this.#pending = buffer;
    return out;
  }

  /**
   * The stream ended. Per the spec a message that was not terminated by a blank line is discarded: the server will
   * send it again after a reconnect with Last-Event-ID, so dispatching a possibly truncated one would be wrong.
   */
  end(): void {
    this.#pending = '';
    this.#data = '';
    this.#hasData = false;
    this.#event = '';
  }

  #line(line: string, out: SseMessage[]): void {
    if (line.length === 0) {
      if (this.#hasData) out.push({ id: this.#lastEventId, event: this.#event || 'message', data: this.#data });
      this.#data = '';
      this.#hasData = false;
      this.#event = '';
      return;
    }
    if (line.charCodeAt(0) === 58 /* ':' */) return; // a comment, e.g. a heartbeat
    const colon = line.indexOf(':');
    let field = line;
    let value = '';
    if (colon >= 0) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.charCodeAt(0) === 32) value = value.slice(1);
    }
    switch (field) {
      case 'event':
        this.#event = value;
        break;
      case 'data':
        this.#data = this.#hasData ? `${this.#data}\n${value}` : value;
        this.#hasData = true;
        break;
      case 'id':
        if (!value.includes('\u0000')) this.#lastEventId = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.#retry = Number(value);
        break;
      default:
        break; // unknown fields are ignored
    }
  }
}

/**
 * Reads an SSE body to its end, yielding each complete message. Rejects if the body errors (a dropped connection);
 * a message cut off by the end or the error is not yielded. Releases the reader when the consumer stops early.
 */
export async function* readSse(body: ReadableStream<Uint8Array>, parser: SseParser = new SseParser()): AsyncGenerator<SseMessage> {
  const reader = body.getReader();
  // stream: true keeps a multi-byte character split across chunks together.
  const decoder = new TextDecoder('utf-8');
  let done = false;
  try {
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) {
        done = true;
        const tail = decoder.decode();
        if (tail) yield* parser.push(tail);
        parser.end();
        return;
      }
      const messages = parser.push(decoder.decode(chunk.value, { stream: true }));
      for (const message of messages) yield message;
    }
  } finally {
    if (!done) {
      parser.end();
      // Cancelling tells fetch to close the connection; it may reject if the stream already errored.
      await reader.cancel().catch(() => {});
    }
    reader.releaseLock();
  }
}
