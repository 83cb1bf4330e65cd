import { describe, expect, it } from '@jest/globals';
import { IDLE_COMMAND, imageDefaults, imageRepository, processFor, rewritePath } from './image.ts';

const o = { repoRoot: '/repo', nodeBin: '/repo/node_modules/.bin/node' };

describe('imageRepository', () => {
  it('strips tags and digests but not registry ports', () => {
    expect(imageRepository('ghcr.io/acme/spotswarm/trainer:0.1@sha256:abc')).toBe('ghcr.io/acme/spotswarm/trainer');
    expect(imageRepository('localhost:5000/spotswarm/trainer')).toBe('localhost:5000/spotswarm/trainer');
    expect(imageRepository('spotswarm/operator:dev')).toBe('spotswarm/operator');
  });
});

describe('imageDefaults', () => {
  it('maps our images by repository suffix, from any registry', () => {
    expect(imageDefaults('registry.example/x/spotswarm/trainer:1').entrypoint).toEqual(['node', '/app/trainer-image/src/main.ts']);
    expect(imageDefaults('spotswarm/operator').entrypoint).toEqual(['node', '/app/operator/main.ts']);
  });
  it('runs the official nats image as nats-server', () => {
    expect(imageDefaults('nats:2.11-alpine')).toEqual({ entrypoint: ['nats-server'], cmd: ['--config', '/etc/nats/nats-server.conf'] });
    expect(imageDefaults('docker.io/library/nats').entrypoint).toEqual(['nats-server']);
    expect(imageDefaults('acme/nats').entrypoint).toEqual([]);
  });
  it('does not match look-alike repositories', () => {
    expect(imageDefaults('acme/notspotswarm/trainer').entrypoint).toEqual([]);
    expect(imageDefaults('spotswarm/trainer-extra').entrypoint).toEqual([]);
  });
});

describe('processFor', () => {
  it('runs the trainer entrypoint with Node 22 from the repo', () => {
    expect(processFor({ image: 'spotswarm/trainer:0.1' }, o)).toEqual({
      argv: ['/repo/node_modules/.bin/node', '/repo/trainer-image/src/main.ts'],
      cwd: '/repo',
    });
  });
  it('appends args to the entrypoint, rewriting /app paths', () => {
    expect(processFor({ image: 'spotswarm/trainer', args: ['--spec', '/app/crds/x.yaml'] }, o).argv).toEqual([
      o.nodeBin,
      '/repo/trainer-image/src/main.ts',
      '--spec',
      '/repo/crds/x.yaml',
    ]);
  });
  it('lets command replace the entrypoint', () => {
    expect(processFor({ image: 'spotswarm/operator', command: ['node', '/app/operator/other.ts'], args: ['-v'] }, o).argv).toEqual([
      o.nodeBin,
      '/repo/operator/other.ts',
      '-v',
    ]);
  });
  it('runs other images by their command, or idles', () => {
    expect(processFor({ image: 'busybox', command: ['sh', '-c', 'exit 3'] }, o).argv).toEqual(['sh', '-c', 'exit 3']);
    expect(processFor({ image: 'busybox', args: ['sleep', '5'] }, o).argv).toEqual(['sleep', '5']);
    expect(processFor({ image: 'registry.k8s.io/pause:3.10' }, o).argv).toEqual(IDLE_COMMAND);
  });
  it("runs the nats image's flags with the built nats-server, config and store paths rewritten to the pod's volumes", () => {
    const p = processFor(
      { image: 'nats:2.11-alpine', args: ['--config=/etc/nats/nats.conf', '--jetstream', '--store_dir=/data'] },
      { ...o, natsServerBin: '/tools/nats-server', mounts: [['/etc/nats', '/pods/x/config'], ['/data', '/pods/x/data']] },
    );
    expect(p.argv).toEqual(['/tools/nats-server', '--config=/pods/x/config/nats.conf', '--jetstream', '--store_dir=/pods/x/data']);
  });
  it('rewrites the working dir and mount paths', () => {
    const p = processFor({ image: 'busybox', command: ['cat', '/etc/cfg/a.json'], workingDir: '/app/e2e' }, { ...o, mounts: [['/etc/cfg', '/pods/x/cfg']] });
    expect(p).toEqual({ argv: ['cat', '/pods/x/cfg/a.json'], cwd: '/repo/e2e' });
  });
});

describe('rewritePath', () => {
  it('matches whole path components, longest mount first', () => {
    const mounts = [['/data', '/l/data'], ['/data/sub', '/l/sub']] as const;
    expect(rewritePath('/data/sub/f', mounts)).toBe('/l/sub/f');
    expect(rewritePath('/data/f', mounts)).toBe('/l/data/f');
    expect(rewritePath('/database', mounts)).toBe('/database');
    expect(rewritePath('--x=/data/f', mounts)).toBe('--x=/l/data/f');
    expect(rewritePath('x/data/f', mounts)).toBe('x/data/f');
  });
});
