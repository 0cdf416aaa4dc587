/**
 * The layering of src/ (docs/architecture.md), checked by `npm run lint`:
 * a folder may import from its own layer and the layers below it, never from above, and no
 * import cycle may exist between files. Lowest layer first.
 */
const LAYERS = [
  ['net'], // codecs, checksums, addresses
  ['io', 'pcap'], // packet I/O (native binding), capture files
  ['ipvs', 'sched', 'xmit'], // the IPVS core and its schedulers; NAT/DR/TUN/ICMP rewrites
  ['datapath'], // the pipeline: one frame in, one verdict out
  // the control path and what drives it; trace: recorders, taps and views of the datapath
  ['control', 'health', 'keepalived', 'ha', 'announce', 'metrics', 'web', 'trace'],
  ['daemon', 'realserver', 'lab', 'replay'], // programs: the director, the decapsulator, the lab
  ['cli'], // entry points
];

const forbidden = [
  {
    name: 'no-circular',
    severity: 'error',
    comment:
      'import cycles make layers meaningless and modules hard to load alone (a type-only ' +
      'import is erased at compile time and loads nothing, so it may close a cycle)',
    from: {},
    to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
  },
  {
    name: 'no-tests-from-src',
    severity: 'error',
    comment: 'only the `uvs bench` entry point may reach into bench/ (it runs the harness)',
    from: { path: '^src/', pathNot: '^src/cli/bench\\.ts$' },
    to: { path: '^(test|bench)/' },
  },
];
LAYERS.forEach((layer, i) => {
  const above = LAYERS.slice(i + 1).flat();
  if (above.length === 0) return;
  forbidden.push({
    name: `layer-${layer.join('-')}`,
    severity: 'error',
    comment: `${layer.join(', ')} may not import from the layers above: ${above.join(', ')}`,
    from: { path: `^src/(${layer.join('|')})/` },
    to: { path: `^src/(${above.join('|')})/` },
  });
});

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    exclude: { path: '^(dist|native/build|node_modules)/' },
  },
};
