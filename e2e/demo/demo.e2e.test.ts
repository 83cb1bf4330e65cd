/**
 * `npm run demo -- --exit` as a new user runs it: everything comes up, the
 * swarm trains until it reports epochs, samples/s and loss, the demo prints
 * them and the operator's Events, and everything stops.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pidAlive } from '../../testkit/cluster/index.ts';
import { REPO_ROOT } from '../../testkit/harness/index.ts';

const EPOCHS = 3;
/** The demo bounds its own wait at 10 minutes; this only stops a hung run. */
const DEMO_TIMEOUT_MS = 13 * 60_000;

/** What the demo printed on stdout (the tables), what it logged on stderr, and how it exited. */
interface DemoRun {
  out: string;
  log: string;
  code: number | null;
}

async function runDemo(args: string[]): Promise<DemoRun> {
  const run = await new Promise<DemoRun>((resolve) => {
    const child = spawn(join(REPO_ROOT, 'node_modules/.bin/node'), [join(REPO_ROOT, 'scripts/demo.ts'), '--exit', ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let log = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    const timer = setTimeout(() => child.kill('SIGINT'), DEMO_TIMEOUT_MS);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ out, log, code });
    });
  });
  if (run.code !== 0) throw new Error(`the demo exited with ${run.code}; stdout:\n${run.out}\nstderr:\n${run.log}`);
  return run;
}

/** The lines the demo printed under `$ <command>`, up to the next blank line. */
function printed(out: string, command: string): string[] {
  const at = out.indexOf(`$ ${command}\n`);
  if (at < 0) throw new Error(`the demo did not print "$ ${command}"; output:\n${out}`);
  const rest = out.slice(at + command.length + 3);
  return rest.slice(0, rest.search(/\n\s*\n|$/)).split('\n');
}

/**
 * The rows of a kubectl table keyed by its headers. A header is text without
 * a double space; each cell is cut at its header's column, so an empty cell
 * stays empty instead of shifting the next one left.
 */
function table(lines: string[]): Record<string, string>[] {
  const [header = '', ...rows] = lines;
  const columns = [...header.matchAll(/\S+(?: \S+)*/g)].map((m) => ({ name: m[0], at: m.index }));
  return rows.map((row) => Object.fromEntries(columns.map((c, i) => [c.name, row.slice(c.at, columns[i + 1]?.at ?? row.length).trim()])));
}

/** The `tiny` row of the printed `kubectl get trainingswarms -o wide`. */
function swarmRow(out: string): Record<string, string> {
  const row = table(printed(out, 'kubectl get trainingswarms -o wide')).find((r) => r['NAME'] === 'tiny');
  if (!row) throw new Error(`no row for tiny in the printed table; output:\n${out}`);
  return row;
}

/** The Reason column of the printed Events section. */
function eventReasons(out: string): string[] {
  const lines = printed(out, 'kubectl describe trainingswarm tiny   # the Events section');
  expect(lines[0]).toBe('Events:');
  return table(lines.slice(1).filter((l) => !/^\s*-/.test(l))).map((r) => r['Reason'] ?? '');
}

function expectEverythingStopped(log: string): void {
  const stopped = /stopped \(etcd (\d+), kube-apiserver (\d+), kube-scheduler (\d+), kube-controller-manager (\d+)\)/.exec(log);
  expect(stopped).not.toBeNull();
  for (const pid of stopped!.slice(1).map(Number)) expect(pidAlive(pid)).toBe(false);
}

describe('npm run demo', () => {
  it(`brings up the control plane, NATS, the operator and the tiny swarm, waits until it trained ${EPOCHS} epochs, prints epoch, samples/s, loss and the Events, and stops it all`, async () => {
    const { out, log } = await runDemo(['--epochs', String(EPOCHS)]);
    expect(log).toMatch(/waiting for the swarm to train: epoch \S+\/3, loss \S+, \S+ samples\/s, \d+\/3 peers/);
    const tiny = swarmRow(out);
    expect(tiny).toMatchObject({ PHASE: 'Running', PEERS: '3/3' });
    expect(Number(tiny['EPOCH'])).toBeGreaterThanOrEqual(EPOCHS);
    expect(tiny['SAMPLES/S']).toMatch(/^\d+(\.\d+)?$/);
    expect(tiny['LOSS']).toMatch(/^\d+(\.\d+)?$/);
    expect(eventReasons(out)).toEqual(expect.arrayContaining(['ScaledUp', 'PodCreated']));
    expect(out).toMatch(/tiny-peer-\S+\s+1\/1\s+Running/);
    expectEverythingStopped(log);
  }, DEMO_TIMEOUT_MS + 60_000);

  it('--chaos evicts two running trainer pods; the operator counts the preemptions, replaces the peers, and the epoch keeps climbing', async () => {
    const { out, log } = await runDemo(['--epochs', String(EPOCHS), '--chaos', '--chaos-interval', '15']);
    const evicted = [...log.matchAll(/chaos: evicted trainer pod (\S+) on /g)].map((m) => m[1]);
    expect(evicted).toHaveLength(2);
    expect(log).toMatch(/chaos: 2 peers evicted, all replaced, and the epoch advanced past \d+/);
    const tiny = swarmRow(out);
    expect(tiny).toMatchObject({ PHASE: 'Running', PEERS: '3/3' });
    expect(Number(tiny['PREEMPTIONS'])).toBeGreaterThanOrEqual(2);
    expect(Number(tiny['EPOCH'])).toBeGreaterThan(EPOCHS);
    expect(eventReasons(out).filter((r) => r === 'PodPreempted')).toHaveLength(2);
    // The evicted pods are gone: none of them is among the printed pods.
    const pods = table(printed(out, 'kubectl get pods -o wide')).map((r) => r['NAME']);
    for (const pod of evicted) expect(pods).not.toContain(pod);
    expectEverythingStopped(log);
  }, DEMO_TIMEOUT_MS + 60_000);
});
