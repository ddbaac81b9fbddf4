import { UserError } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatSource, isLoopbackRegistry, parseReference, skopeoRef } from '../src/image-ref.js';

const D = `sha256:${'a'.repeat(64)}`;

test('Docker short names are normalised to docker.io/library and :latest', () => {
  assert.equal(parseReference('debian:bookworm'), {
    kind: 'registry',
    domain: 'docker.io',
    repo: 'library/debian',
    tag: 'bookworm',
    digest: undefined,
  });
  assert.is(formatSource(parseReference('debian')), 'docker.io/library/debian:latest');
  assert.is(formatSource(parseReference('team/app:1')), 'docker.io/team/app:1');
  assert.is(formatSource(parseReference('index.docker.io/debian:12')), 'docker.io/library/debian:12');
});

test('a digest reference keeps the digest and no default tag', () => {
  const s = parseReference(`docker.io/library/debian@${D}`);
  assert.equal(s, { kind: 'registry', domain: 'docker.io', repo: 'library/debian', tag: undefined, digest: D });
  assert.is(skopeoRef(s as Exclude<typeof s, { kind: 'builtin' }>), `docker://docker.io/library/debian@${D}`);
  const both = parseReference(`localhost:5000/a/b:v1@${D}`);
  assert.equal(both, { kind: 'registry', domain: 'localhost:5000', repo: 'a/b', tag: 'v1', digest: D });
});

test('host:port and localhost registries are domains, not repositories', () => {
  assert.equal(parseReference('localhost:5000/team/app:tag'), {
    kind: 'registry',
    domain: 'localhost:5000',
    repo: 'team/app',
    tag: 'tag',
    digest: undefined,
  });
  assert.is((parseReference('localhost/app') as { domain: string }).domain, 'localhost');
  assert.is((parseReference('127.0.0.1:5401/t4/busybox:v1') as { domain: string }).domain, '127.0.0.1:5401');
  assert.is((parseReference('docker://quay.io/x/y:z') as { domain: string }).domain, 'quay.io');
  assert.is((parseReference('[::1]:5000/x') as { domain: string }).domain, '[::1]:5000');
});

test('offline sources: oci dir, oci-archive, docker-archive, builtin', () => {
  assert.equal(parseReference('oci:/tmp/lay:v1'), { kind: 'oci', path: '/tmp/lay', tag: 'v1' });
  assert.equal(parseReference('oci:/tmp/lay'), { kind: 'oci', path: '/tmp/lay', tag: undefined });
  assert.equal(parseReference('oci-archive:/tmp/i.tar'), { kind: 'oci-archive', path: '/tmp/i.tar', tag: undefined });
  assert.equal(parseReference('docker-archive:/tmp/d.tar'), { kind: 'docker-archive', path: '/tmp/d.tar', ref: undefined });
  assert.equal(parseReference('docker-archive:/tmp/d.tar:busybox:v1'), { kind: 'docker-archive', path: '/tmp/d.tar', ref: 'busybox:v1' });
  assert.equal(parseReference('builtin:busybox'), { kind: 'builtin', name: 'busybox' });
});

test('malformed references are UserErrors naming the image field', () => {
  for (const bad of [
    '',
    'Debian:12',
    'debian:bad tag',
    'debian@sha256:abc',
    'debian@md5:aa',
    'a//b',
    '-x/y',
    'builtin:alpine',
    '/tmp/image.tar',
    `x:${'t'.repeat(129)}`,
    'host:port:5/x',
  ]) {
    try {
      parseReference(bad);
      assert.unreachable(`"${bad}" was accepted`);
    } catch (e) {
      assert.instance(e, UserError, `"${bad}": ${(e as Error).message}`);
      assert.is((e as UserError).field, 'image');
    }
  }
});

test('only loopback registries count as loopback', () => {
  for (const d of ['127.0.0.1:5401', 'localhost:5000', 'localhost', '[::1]:5000', '127.1.2.3']) assert.ok(isLoopbackRegistry(d), d);
  for (const d of ['docker.io', '10.0.0.1:5000', 'localhost.example.com', '127.0.0.1.nip.io:5000']) assert.not.ok(isLoopbackRegistry(d), d);
});

test.run();
