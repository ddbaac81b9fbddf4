import { CommandError, UserError } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { explainSkopeoError } from '../src/skopeo.js';

/** explainSkopeoError on what skopeo printed in real failures (stderr as skopeo writes it, a fatal logrus line). */
const DIGEST = 'sha256:a689123c1fdfcd93dd63a03bb6d4dbb460dc934ba9f83a31c8d952096083386c';
const src = { kind: 'registry', domain: '127.0.0.1:5401', repo: 't4/busybox', tag: undefined, digest: DIGEST } as const;
const tagged = { kind: 'registry', domain: '127.0.0.1:5401', repo: 't4/busybox', tag: 'v9', digest: undefined } as const;
const failed = (stderr: string) => new CommandError({ argv: ['skopeo', 'copy'], exitCode: 1, stdout: '', stderr, durationMs: 1 });
const explain = (stderr: string, s: Parameters<typeof explainSkopeoError>[1] = src, full?: boolean) => {
  const e = explainSkopeoError(
    failed(stderr),
    s,
    full === undefined ? undefined : { freeBytes: full ? 4096 : 1 << 30, freeInodes: 9, full },
  );
  assert.instance(e, UserError, String(e));
  return (e as UserError).message;
};

test('a pull that ran out of space is a full disk even when the temporary file name holds "404" (the flaky run of issue 19)', () => {
  assert.is(
    explain(
      'time="2026-11-30T00:31:12Z" level=fatal msg="writing blob: write /tmp/cni-demo-test-63zgz3/images/tmp/24040-a2639969/oci-put-blob3156548094: no space left on device"\n',
    ),
    `image 127.0.0.1:5401/t4/busybox@${DIGEST}: the disk is full (writing blob: write /tmp/cni-demo-test-63zgz3/images/tmp/24040-a2639969/oci-put-blob3156548094: no space left on device); nothing was cached`,
  );
});

test('a registry without the manifest: no such digest, or tag; an HTTP 404 counts, a number holding 404 does not', () => {
  assert.is(
    explain(
      `time="2026-11-30T00:31:12Z" level=fatal msg="reading manifest ${DIGEST} in 127.0.0.1:5401/t4/busybox: manifest unknown: manifest unknown"\n`,
    ),
    `image 127.0.0.1:5401/t4/busybox@${DIGEST}: the registry has no such digest (reading manifest ${DIGEST} in 127.0.0.1:5401/t4/busybox: manifest unknown: manifest unknown)`,
  );
  assert.is(
    explain(
      'time="2026-11-30T00:31:12Z" level=fatal msg="Error reading manifest v9: received unexpected HTTP status: 404 Not Found"\n',
      tagged,
    ),
    'image 127.0.0.1:5401/t4/busybox:v9: the registry has no such tag (Error reading manifest v9: received unexpected HTTP status: 404 Not Found)',
  );
  const e = explainSkopeoError(failed('time="2026-11-30T00:31:12Z" level=fatal msg="copying blob-3140448 failed"\n'), src);
  assert.instance(e, CommandError, 'an unknown failure is passed on as the command error');
});

test('a filesystem with no room left is a full disk when skopeo said nothing telling; the registry’s own answer wins over it', () => {
  assert.is(
    explain('time="2026-11-30T00:31:12Z" level=fatal msg="unexpected EOF"\n', src, true),
    `image 127.0.0.1:5401/t4/busybox@${DIGEST}: the disk is full (4 KiB free); nothing was cached`,
  );
  assert.match(explain('level=fatal msg="manifest unknown"\n', src, true), /the registry has no such digest/);
  assert.instance(
    explainSkopeoError(failed('level=fatal msg="unexpected EOF"\n'), src, { freeBytes: 1 << 30, freeInodes: 9, full: false }),
    CommandError,
  );
});

test.run();
