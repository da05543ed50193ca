// The SSE wire-format parser of the client SDK, fed the awkward inputs a real network produces.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readSse, SseParser, type SseMessage } from '../src/client/sse.ts';

function parseAll(chunks: string[]): SseMessage[] {
  const parser = new SseParser();
  return chunks.flatMap((c) => parser.push(c));
}

function streamOf(chunks: Uint8Array[], errorAtEnd?: Error): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]);
      else if (errorAtEnd) controller.error(errorAtEnd);
      else controller.close();
    },
  });
}

describe('SseParser', () => {
  it('parses id, event and multi-line data, and skips comments', () => {
    const text = ': heartbeat\n\nid: 1\nevent: created\ndata: {"a":1}\n\nid: 2\nevent: output\ndata: line one\ndata: line two\n\n';
    assert.deepEqual(parseAll([text]), [
      { id: '1', event: 'created', data: '{"a":1}' },
      { id: '2', event: 'output', data: 'line one\nline two' },
    ]);
  });

  it('gives the same messages however the text is split, with LF, CRLF or CR line ends', () => {
    const lf = 'id: 7\nevent: progress\ndata: {"percent":50}\n\nid: 8\ndata:x\n\n';
    const expected = [
      { id: '7', event: 'progress', data: '{"percent":50}' },
      { id: '8', event: 'message', data: 'x' },
    ];
    for (const text of [lf, lf.replaceAll('\n', '\r\n'), lf.replaceAll('\n', '\r')]) {
      for (let size = 1; size <= text.length; size++) {
        const chunks: string[] = [];
        for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
        assert.deepEqual(parseAll(chunks), expected, `chunk size ${size} of ${JSON.stringify(text)}`);
      }
    }
  });

  it('follows the spec on edge cases: BOM, no space after the colon, empty data, retry, ids with NUL', () => {
    const parser = new SseParser();
    const out = parser.push('\uFEFFdata:a\n\ndata\n\nretry: 2500\nid: 3\u0000\ndata: b\n\nretry: soon\n');
    assert.deepEqual(out, [
      { id: '', event: 'message', data: 'a' },
      { id: '', event: 'message', data: '' },
      { id: '', event: 'message', data: 'b' },
    ]);
    assert.equal(parser.retry, 2500);
    // An event block with no data dispatches nothing, but its id still becomes the last event id.
    assert.deepEqual(parser.push('id: 9\nevent: x\n\n'), []);
    assert.equal(parser.lastEventId, '9');
  });

  it('drops a message cut off by the end of the stream', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push('id: 1\ndata: whole\n\nid: 2\ndata: cut'), [{ id: '1', event: 'message', data: 'whole' }]);
    parser.end();
    assert.deepEqual(parser.push('\n\n'), []);
  });
});

describe('readSse', () => {
  it('decodes UTF-8 split across chunks', async () => {
    const bytes = new TextEncoder().encode('id: 1\nevent: output\ndata: "上海 – ok"\n\n');
    const chunks = Array.from(bytes, (b) => Uint8Array.of(b)); // one byte per chunk splits every character
    const got: SseMessage[] = [];
    for await (const m of readSse(streamOf(chunks))) got.push(m);
    assert.deepEqual(got, [{ id: '1', event: 'output', data: '"上海 – ok"' }]);
  });

  it('yields complete messages, then rejects when the connection drops', async () => {
    const enc = new TextEncoder();
    const body = streamOf([enc.encode('id: 1\ndata: a\n\nid: 2\nda'), enc.encode('ta: partial')], new TypeError('terminated'));
    const got: string[] = [];
    await assert.rejects(async () => {
      for await (const m of readSse(body)) got.push(m.id);
    }, /terminated/);
    assert.deepEqual(got, ['1']);
  });

  it('cancels the body when the consumer stops early', async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new TextEncoder().encode('data: x\n\n'));
      },
      cancel() {
        cancelled = true;
      },
    });
    for await (const m of readSse(body)) {
      assert.equal(m.data, 'x');
      break;
    }
    assert.equal(cancelled, true);
  });
});
