// `npm run version-packages`: `changeset version`, with one correction to its release plan.
//
// Why not `changeset version` itself: changesets 2.x bumps a package MAJOR when a new version
// of one of its peer dependencies leaves its peer range (changesets issue #1228). Every adapter
// has `"@mtstore/core": "^0.1.0"` as a peer, so a minor changeset for core (0.1.0 -> 0.2.0)
// turned every dependent into 1.0.0, and the fixed group core + conformance then followed them
// to 1.0.0 as well. In 0.x a minor is already the breaking bump, so this script lowers a MAJOR
// bump of a 0.x package that no changeset asked for (for it or for a package of its fixed or
// linked group) to minor, before the plan is applied; the dependents' peer ranges are still
// updated by changesets (^0.1.0 -> ^0.2.0) since the new version leaves them. A changeset that
// says major still gives a major. (changesets 3 fixes this but needs Node 22; we are on Node 20.)
//
// It runs changesets' own programmatic packages, the ones `changeset version` is made of, resolved
// from @changesets/cli so that they are the same copies the CLI uses. Pre mode and snapshots are
// left to the CLI: `npx changeset version [--snapshot]`.
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

const cwd = process.cwd();
const cliPackage = createRequire(import.meta.url).resolve('@changesets/cli/package.json');
const fromCli = createRequire(cliPackage);
const load = (name, from = fromCli) => {
  const mod = from(name);
  return mod.default ?? mod;
};
const { getPackages } = fromCli('@manypkg/get-packages');
const { read: readConfig } = fromCli('@changesets/config');
const readChangesets = load('@changesets/read');
const { readPreState } = fromCli('@changesets/pre');
const assembleReleasePlan = load('@changesets/assemble-release-plan');
const applyReleasePlan = load('@changesets/apply-release-plan');
const semver = load('semver', createRequire(fromCli.resolve('@changesets/assemble-release-plan')));

/**
 * Lowers, in place, each MAJOR release of a 0.x package that no changeset asked to be major (for it
 * or for a member of its fixed/linked group) to a minor, then gives the members of each fixed or
 * linked group that are released their group's highest new version again. Returns the names lowered.
 */
function lowerUnaskedMajors(releasePlan, config) {
  const groups = [...(config.fixed ?? []), ...(config.linked ?? [])];
  const askedMajor = new Set();
  for (const changeset of releasePlan.changesets) {
    for (const release of changeset.releases) if (release.type === 'major') askedMajor.add(release.name);
  }
  for (const group of groups) {
    if (group.some((name) => askedMajor.has(name))) for (const name of group) askedMajor.add(name);
  }
  const lowered = [];
  for (const release of releasePlan.releases) {
    if (release.type !== 'major' || semver.major(release.oldVersion) !== 0 || askedMajor.has(release.name)) continue;
    release.type = 'minor';
    release.newVersion = semver.inc(release.oldVersion, 'minor');
    lowered.push(release.name);
  }
  for (const group of groups) {
    const members = releasePlan.releases.filter((release) => group.includes(release.name) && release.type !== 'none');
    if (members.length === 0) continue;
    const highest = members.map((release) => release.newVersion).sort(semver.rcompare)[0];
    for (const release of members) release.newVersion = highest;
  }
  return lowered;
}

async function main() {
  if (process.argv.length > 2) {
    console.error('scripts/version.mjs takes no options; for a snapshot or other options run `npx changeset version …` (it bumps dependents of a 0.x peer major).');
    process.exit(1);
  }
  const packages = await getPackages(cwd);
  const config = await readConfig(cwd, packages);
  const [changesets, preState] = await Promise.all([readChangesets(cwd), readPreState(cwd)]);
  if (preState?.mode === 'pre') {
    console.error('In changesets pre mode: run `npx changeset version` (this script handles normal releases only), or `npx changeset pre exit` first.');
    process.exit(1);
  }
  if (changesets.length === 0 && preState?.mode !== 'exit') {
    console.warn('No unreleased changesets found, exiting.');
    return;
  }
  const releasePlan = assembleReleasePlan(changesets, packages, config, preState, undefined);
  const lowered = lowerUnaskedMajors(releasePlan, config);
  if (lowered.length > 0) console.log(`Major bumps no changeset asked for, lowered to minor (0.x): ${lowered.join(', ')}`);
  await applyReleasePlan(releasePlan, packages, config, undefined, dirname(fromCli.resolve('@changesets/cli')));
  for (const release of releasePlan.releases) if (release.type !== 'none') console.log(`${release.name}: ${release.oldVersion} -> ${release.newVersion} (${release.type})`);
  console.log('All files have been updated. Review them and commit at your leisure');
}

await main();
