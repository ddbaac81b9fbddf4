// The turbo graph with nothing in its tasks, for bench/run.mjs: what the turbo path costs before any step does
// work. A throwaway workspace (under the bench's temp root) with the repository's turbo.json and one package per
// step package, of the same name and with the same task names (demo, down, preflight), each task's script
// replaced:
//   node: `node -e 0`, the least any task run by Node costs (pnpm run, its shell, one Node start);
//   zx:   the package's own script with its step script swapped for an empty zx script: the same zx, found the
//         same way (the package's node_modules/.bin), the same compile cache, and nothing to run.
// The packages' node_modules are links to the real ones (zx and its compile cache), the root's to the repository's
// (turbo). The workspace is a git repository, as the real one is: turbo hashes through git, and without it walks
// every file, which would make the empty graph slower than the real one.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const TASKS = ['demo', 'down', 'preflight'];

/** The empty form of a package's task script (see the file's head); throws when a script is not of the expected shape. */
export function emptyScript(kind, script, emptyFile) {
  if (kind === 'node') return 'node -e 0';
  const m = /^(.*\bzx) dist\/scripts\/[\w-]+\.mjs$/.exec(script);
  if (!m) throw new Error(`a step task is not "… zx dist/scripts/<name>.mjs": ${script}`);
  return `${m[1]} ${emptyFile}`;
}

/** Makes the workspace under `dir` (which must not exist) for `kind` ('node' or 'zx'); returns `dir`. */
export function emptyGraphWorkspace(repo, kind, dir) {
  mkdirSync(path.join(dir, 'packages'), { recursive: true });
  const turbo = JSON.parse(readFileSync(path.join(repo, 'turbo.json'), 'utf8'));
  // the build tasks have nothing to build here (the real ones are cached: neither starts a process)
  delete turbo.globalDependencies;
  writeFileSync(path.join(dir, 'turbo.json'), `${JSON.stringify(turbo, null, 2)}\n`);
  const root = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8'));
  writeFileSync(
    path.join(dir, 'package.json'),
    `${JSON.stringify({ name: 'empty-graph', private: true, packageManager: root.packageManager })}\n`,
  );
  writeFileSync(path.join(dir, 'pnpm-workspace.yaml'), readFileSync(path.join(repo, 'pnpm-workspace.yaml')));
  writeFileSync(path.join(dir, '.gitignore'), 'node_modules\n.turbo\n');
  const emptyFile = path.join(dir, 'empty.mjs');
  writeFileSync(emptyFile, '#!/usr/bin/env zx\n');
  symlinkSync(realpathSync(path.join(repo, 'node_modules')), path.join(dir, 'node_modules'));
  let tasks = 0;
  for (const d of readdirSync(path.join(repo, 'packages'))) {
    const file = path.join(repo, 'packages', d, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8'));
    const scripts = {};
    for (const t of TASKS) {
      if (pkg.scripts?.[t] === undefined) continue;
      scripts[t] = emptyScript(kind, pkg.scripts[t], emptyFile);
      tasks++;
    }
    mkdirSync(path.join(dir, 'packages', d));
    writeFileSync(path.join(dir, 'packages', d, 'package.json'), `${JSON.stringify({ name: pkg.name, private: true, scripts })}\n`);
    const modules = path.join(repo, 'packages', d, 'node_modules');
    if (existsSync(modules)) symlinkSync(realpathSync(modules), path.join(dir, 'packages', d, 'node_modules'));
  }
  if (tasks === 0) throw new Error('no step package has a demo, down or preflight task');
  const git = (...args) => {
    const r = spawnSync('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@localhost', ...args], { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')} in ${dir} failed: ${r.stderr}`);
  };
  git('init', '-q');
  git('add', '-A');
  git('commit', '-qm', 'empty graph');
  return dir;
}
