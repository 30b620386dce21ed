import { parentPort } from 'node:worker_threads';
import { type RawElement, type TransformOptions, type TransformResult, transformElement } from './transform';

/** Worker-thread side of {@link ./transform-pool.ts}: runs {@link transformElement} on request. */
export interface TransformRequest {
  id: number;
  element: RawElement;
  options: TransformOptions;
}
export interface TransformResponse {
  id: number;
  result?: TransformResult;
  error?: string;
}

if (parentPort) {
  const port = parentPort;
  port.on('message', (req: TransformRequest) => {
    // Structured clone turns Buffers into Uint8Arrays; sharp and hashing need Buffers.
    const element = {
      ...req.element,
      bytes: Buffer.from(req.element.bytes.buffer, req.element.bytes.byteOffset, req.element.bytes.byteLength),
    };
    transformElement(element, req.options).then(
      (result) => {
        const transfer = result.ok ? [result.payload.buffer as ArrayBuffer] : [];
        port.postMessage({ id: req.id, result } satisfies TransformResponse, transfer);
      },
      (err: Error) => port.postMessage({ id: req.id, error: err.stack ?? err.message } satisfies TransformResponse),
    );
  });
}
