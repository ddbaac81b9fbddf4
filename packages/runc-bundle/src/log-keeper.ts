import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';

/**
 * The containers' output, bounded (as podman's log_size_max): a container writing without end must not fill
 * /run. runc create hands its stdout and stderr to the container, so something must outlive our step to
 * read them: one small keeper process per `up` that creates containers, reading each new container's output
 * from its own socket and appending it to `<bundle>/container.log`. When that file would pass half the cap,
 * it becomes `container.log.1` (replacing the older one) and a new file starts: the oldest output is dropped,
 * and the two files together never hold more than the cap. The keeper exits once every container it serves
 * has closed its output (the containers are gone).
 *
 * The keeper is a perl script (`perl -e`, as the file-lock helper is: perl-base is on every Debian host, and
 * it starts in a few milliseconds where a second Node costs ~30 ms of CPU beside runc create), needing no file
 * of its own to find. It opens the logs without following links, in the bundle folder, which is root's, and
 * gets none of the caller's environment (PERL5OPT, PERL5LIB …) but PATH. When a container's output ends it
 * sends back what that container wrote last on fd 3: `<index> <length>\n<bytes>`.
 */
const KEEPER = String.raw`
use strict; use warnings;
use Fcntl qw(O_WRONLY O_APPEND O_CREAT O_NOFOLLOW);
$SIG{PIPE} = 'IGNORE';
my ($max, @logs) = @ARGV;
my $half = int($max / 2); $half = 1 if $half < 1;
open(my $report, '>&=', 3) or die "fd 3: $!";
my (%in, %fh, %size, %tail);
for my $i (0 .. $#logs) {
  open(my $s, '<&=', 4 + $i) or die "fd " . (4 + $i) . ": $!";
  $in{$i} = $s; $tail{$i} = '';
}
sub open_log {
  my ($i) = @_;
  sysopen(my $fh, $logs[$i], O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0600) or die "$logs[$i]: $!";
  $fh{$i} = $fh; $size{$i} = (stat($fh))[7];
}
sub keep {
  my ($i, $d) = @_;
  # the bundle is gone (down removed it): keep reading all the same, so the container never blocks on a full pipe
  eval {
    open_log($i) unless $fh{$i};
    $d = substr($d, -$half) if length($d) > $half;
    if ($size{$i} + length($d) > $half) {
      close(delete $fh{$i});
      rename($logs[$i], "$logs[$i].1") or die "$logs[$i]: $!";
      open_log($i);
    }
    my $off = 0;
    while ($off < length($d)) { my $n = syswrite($fh{$i}, $d, length($d) - $off, $off); die "$logs[$i]: $!" unless defined $n; $off += $n; }
    $size{$i} += length($d);
  };
}
sub finish {
  my ($i) = @_;
  close(delete $in{$i});
  close(delete $fh{$i}) if $fh{$i};
  my $msg = "$i " . length($tail{$i}) . "\n" . $tail{$i};
  my $off = 0;
  while ($off < length($msg)) { my $n = syswrite($report, $msg, length($msg) - $off, $off); last unless defined $n && $n > 0; $off += $n; }
}
while (%in) {
  my $rin = '';
  vec($rin, fileno($in{$_}), 1) = 1 for keys %in;
  my $ready = select(my $rout = $rin, undef, undef, undef);
  next if $ready < 0 && $!{EINTR};
  die "select: $!" if $ready < 0;
  for my $i (keys %in) {
    next unless vec($rout, fileno($in{$i}), 1);
    my $n = sysread($in{$i}, my $d, 65536);
    if (!$n) { finish($i); next; }
    keep($i, $d);
    $tail{$i} = substr($tail{$i} . $d, -8192);
  }
}
`;

export interface LogKeeper {
  /** where container `i`'s runc create sends stdout and stderr */
  pipe(i: number): Socket;
  /** closes our end of pipe `i`: call once runc create has returned (the container holds its own) */
  close(i: number): void;
  /** what container `i` wrote last (after close(i): everything, once the keeper has seen the end) */
  tail(i: number): Promise<string>;
  /** closes every end we still hold and lets the keeper run on alone */
  release(): void;
  /** settles when the keeper has exited (once every container it serves has closed its output) */
  exited: Promise<void>;
}

/** Starts a keeper for these log files (one per container, in order); `maxBytes` caps each container's output. */
export function startLogKeeper(logs: string[], maxBytes: number): LogKeeper {
  const child = spawn('perl', ['-e', KEEPER, String(maxBytes), ...logs], {
    stdio: ['ignore', 'ignore', 'ignore', 'pipe', ...logs.map(() => 'pipe' as const)],
    detached: true,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
  });
  child.unref();
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  // a keeper that cannot start (no perl) leaves the pipes unread: runc create then fails on its output and says so
  child.on('error', () => undefined);
  const tails = new Map<number, string>();
  const waiting = new Map<number, (t: string) => void>();
  const report = child.stdio[3] as Socket | null;
  let pending = Buffer.alloc(0);
  report?.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      const nl = pending.indexOf(10);
      if (nl < 0) return;
      const [i, len] = pending.subarray(0, nl).toString('latin1').split(' ').map(Number) as [number, number];
      if (pending.length < nl + 1 + len) return;
      const tail = pending.subarray(nl + 1, nl + 1 + len).toString('utf8');
      pending = pending.subarray(nl + 1 + len);
      tails.set(i, tail);
      waiting.get(i)?.(tail);
    }
  });
  report?.on('error', () => undefined);
  let released = false;
  const end = (i: number) => (child.stdio[4 + i] as Socket | null)?.destroy();
  return {
    exited,
    pipe: (i) => child.stdio[4 + i] as Socket,
    close: end,
    tail(i) {
      const known = tails.get(i);
      if (known !== undefined || released || child.exitCode !== null) return Promise.resolve(known ?? '');
      return new Promise((resolve) => {
        waiting.set(i, resolve);
        // the keeper answers within moments of the end; a keeper that died cannot, and the error goes on without it
        setTimeout(() => resolve(tails.get(i) ?? ''), 2000).unref();
      });
    },
    release() {
      released = true;
      for (let i = 0; i < logs.length; i++) end(i);
      report?.destroy();
    },
  };
}
