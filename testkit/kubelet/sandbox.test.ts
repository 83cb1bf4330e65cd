import { describe, expect, it } from '@jest/globals';
import { hostMounts, hostsFile, sandboxed, sandboxScript } from './sandbox.ts';

const mountinfo = [
  '22 27 0:21 / /proc rw,relatime - proc proc rw',
  '24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw',
  '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
  '28 27 0:25 / /srv/my\\040data ro,nosuid,nodev - tmpfs t ro',
].join('\n');

describe('hostMounts', () => {
  it('reads mount points and their per-mount options, decoding octal escapes', () => {
    expect(hostMounts(mountinfo)).toEqual([
      { path: '/proc', options: 'rw,relatime' },
      { path: '/dev', options: 'rw,relatime' },
      { path: '/', options: 'rw,relatime' },
      { path: '/srv/my data', options: 'ro,nosuid,nodev' },
    ]);
  });
});

describe('sandboxScript', () => {
  it('always binds the pod hosts file, and nothing else without readOnlyRootFilesystem', () => {
    expect(sandboxScript({ hostsFile: '/p/hosts', volumes: [['/data', '/p/v/data']], readOnlyRoot: false }, hostMounts(mountinfo))).toBe(
      "set -e\nmount --bind '/p/hosts' /etc/hosts\nexec \"$@\"",
    );
  });
  it('keeps volumes writable and remounts every other host mount read-only, keeping its flags', () => {
    const s = sandboxScript({ hostsFile: '/p/hosts', volumes: [['/data', '/p/v/data'], ['/tmp', '/p/v/tmp']], readOnlyRoot: true }, hostMounts(mountinfo));
    const lines = s.split('\n');
    expect(lines).toContain("mount --bind '/p/v/data' '/p/v/data'");
    // /tmp exists on the host: the volume is mounted there too, as in a container
    expect(lines).toContain("mount --bind '/p/v/tmp' '/tmp'");
    expect(lines).not.toContain("mount --bind '/p/v/data' '/data'");
    expect(lines).toContain("mount -o remount,bind,ro,relatime '/'");
    expect(lines).toContain("mount -o remount,bind,ro,nosuid,nodev '/srv/my data'");
    expect(s).not.toMatch(/remount.*'\/(proc|dev)'/);
    // volumes are bound before the root goes read-only
    expect(lines.findIndex((l) => l.includes('/p/v/data'))).toBeLessThan(lines.findIndex((l) => l.includes("'/'")));
    expect(lines.at(-1)).toBe('exec "$@"');
  });
});

describe('sandboxScript over paths the pod needs', () => {
  it('binds every volume onto itself before any onto its mountPath, and mounts none over a path the pod must still see', () => {
    const s = sandboxScript({
      hostsFile: '/tmp/k/p/hosts', volumes: [['/tmp', '/tmp/k/p/v/tmp'], ['/dev/termination-log', '/tmp/k/p/termination-log']], keepVisible: ['/tmp/repo', '/tmp/k'], readOnlyRoot: true,
    }, hostMounts(mountinfo));
    const lines = s.split('\n');
    // /tmp holds the repo, the kubelet's state and the other volume: the emptyDir must not hide them
    expect(lines).not.toContain("mount --bind '/tmp/k/p/v/tmp' '/tmp'");
    expect(lines.filter((l) => l.startsWith('mount --bind') && !l.includes('/etc/hosts'))).toEqual([
      "mount --bind '/tmp/k/p/v/tmp' '/tmp/k/p/v/tmp'",
      "mount --bind '/tmp/k/p/termination-log' '/tmp/k/p/termination-log'",
    ]);
    // where nothing needed lies below it, /tmp still gets the volume
    expect(sandboxScript({ hostsFile: '/p/hosts', volumes: [['/tmp', '/p/v/tmp']], keepVisible: ['/srv/repo'], readOnlyRoot: true }, hostMounts(mountinfo)).split('\n'))
      .toContain("mount --bind '/p/v/tmp' '/tmp'");
  });
});

describe('sandboxed', () => {
  it('wraps the command so that unshare and sh exec it with its own arguments', () => {
    const argv = sandboxed(['/bin/echo', "it's"], { hostsFile: '/h', volumes: [], readOnlyRoot: false }, []);
    expect(argv.slice(0, 5)).toEqual(['unshare', '--user', '--map-root-user', '--mount', '--']);
    expect(argv.slice(-3)).toEqual(['sandbox', '/bin/echo', "it's"]);
  });
});

describe('hostsFile', () => {
  it("names every Service by its cluster-DNS names on loopback, the short name only in the pod's namespace", () => {
    const h = hostsFile('p-0', 'apps', [{ name: 'db', namespace: 'apps' }, { name: 'spotswarm-nats', namespace: 'spotswarm-system' }]);
    expect(h.split('\n')).toEqual([
      '127.0.0.1\tlocalhost',
      '127.0.0.1\tp-0',
      '::1\tlocalhost ip6-localhost ip6-loopback',
      '127.0.0.1\tdb db.apps db.apps.svc db.apps.svc.cluster.local',
      '127.0.0.1\tspotswarm-nats.spotswarm-system spotswarm-nats.spotswarm-system.svc spotswarm-nats.spotswarm-system.svc.cluster.local',
      '',
    ]);
  });
});
