/**
 * Top-level blocks the checker and VRRP processes share: `track_file NAME { ... }` (and its
 * deprecated spelling `vrrp_track_file`), which FILE_CHECK and track_file references use,
 * and `bfd_instance NAME { ... }` (keepalived's BFD daemon), which BFD_CHECK and track_bfd
 * name.
 */
import type { DiagnosticList, Loc } from '../diagnostics.js';
import { readInt, readUnsigned } from '../grammar/numbers.js';
import type { Keyword, KeywordContext } from '../grammar/parser.js';
import type { RawKeyword } from '../model.js';

export interface TrackFileDraft {
  readonly name: string;
  path?: string;
  weight: number;
  reverse: boolean;
  initFile?: { value: number; overwrite: boolean };
  readonly loc: Loc;
}

export interface BfdDraft {
  readonly name: string;
  readonly keywords: RawKeyword[];
  readonly loc: Loc;
}

export interface TrackingDrafts {
  readonly trackFiles: TrackFileDraft[];
  readonly bfdInstances: BfdDraft[];
}

const BFD_KEYWORDS = [
  'source_ip',
  'neighbor_ip',
  'min_rx',
  'min_tx',
  'idle_tx',
  'multiplier',
  'passive',
  'ttl',
  'hoplimit',
  'max_hops',
  'weight',
];

export function trackingKeywords(
  d: TrackingDrafts,
  active: boolean,
  diags: DiagnosticList,
): Keyword[] {
  const lastFile = () => d.trackFiles[d.trackFiles.length - 1];
  let skippedFile = false;
  const trackFile = (ctx: KeywordContext) => {
    if (ctx.words[0] === 'vrrp_track_file') {
      ctx.warning('"vrrp_track_file" is deprecated, please use "track_file"');
    }
    const name = ctx.word(1);
    skippedFile = false;
    if (d.trackFiles.some((f) => f.name === name)) {
      ctx.error(`track_file ${name} already defined`);
      skippedFile = true;
      ctx.parser.skipBlock(true);
      return;
    }
    d.trackFiles.push({ name, weight: 1, reverse: false, loc: ctx.loc });
  };
  const fileSub: Keyword[] = [
    {
      name: 'file',
      handler: (ctx) => {
        const f = lastFile();
        if (f.path !== undefined) {
          ctx.error(`File already set for track file ${f.name} - ignoring ${ctx.word(1)}`);
          return;
        }
        f.path = ctx.word(1);
      },
    },
    {
      name: 'weight',
      handler: (ctx) => {
        const f = lastFile();
        if (ctx.words.length < 2) {
          ctx.error(`No weight specified for track file ${f.name} - ignoring`);
          return;
        }
        const r = readInt(ctx.words[1], -254, 254);
        if (!r.ok) {
          ctx.error(
            `Weight (${ctx.words[1]}) for track_file ${f.name} must be between [-254..254] inclusive. Ignoring...`,
          );
          return;
        }
        f.weight = r.value;
        if (ctx.words.length >= 3) {
          if (ctx.words[2] === 'reverse') f.reverse = true;
          else if (ctx.words[2] !== 'noreverse') {
            ctx.error(`track_file ${f.name} unknown weight option ${ctx.words[2]}`);
          }
        }
      },
    },
    {
      name: 'init_file',
      handler: (ctx) => {
        const f = lastFile();
        let value = 0;
        let overwrite = false;
        for (const w of ctx.words.slice(1)) {
          if (w === 'overwrite') overwrite = true;
          else {
            const r = readInt(w, -2147483648, 2147483647);
            if (!r.ok) {
              ctx.error(`track file ${f.name} init_file value '${w}' is invalid (${r.reason})`);
              return;
            }
            value = r.value;
          }
        }
        f.initFile = { value, overwrite };
      },
    },
  ];
  const fileClose = (loc: Loc) => {
    const f = lastFile();
    if (skippedFile || !f) return;
    if (f.path === undefined) {
      diags.error(loc, `No file set for track_file ${f.name} - ignoring`);
      d.trackFiles.pop();
    }
  };
  return [
    { name: 'track_file', active, handler: trackFile, sub: fileSub, onClose: fileClose },
    { name: 'vrrp_track_file', active, handler: trackFile, sub: fileSub, onClose: fileClose },
    {
      name: 'bfd_instance',
      active,
      handler: (ctx) => {
        const name = ctx.word(1);
        if (d.bfdInstances.some((b) => b.name === name)) {
          ctx.error(`BFD instance ${name} already configured - ignoring`);
          ctx.parser.skipBlock(true);
          return;
        }
        d.bfdInstances.push({ name, keywords: [], loc: ctx.loc });
      },
      sub: BFD_KEYWORDS.map((name) => ({
        name,
        handler: (ctx: KeywordContext) => {
          const b = d.bfdInstances[d.bfdInstances.length - 1];
          if (name !== 'passive' && ctx.words.length < 2) ctx.word(1);
          if (
            ['min_rx', 'min_tx', 'idle_tx', 'multiplier', 'ttl', 'hoplimit', 'max_hops'].includes(
              name,
            )
          ) {
            const r = readUnsigned(ctx.words[1], 0, 4294967295);
            if (!r.ok) ctx.error(`(${b.name}) invalid ${name} '${ctx.words[1]}' (${r.reason})`);
          }
          b.keywords.push({ keyword: name, args: ctx.words.slice(1), loc: ctx.loc });
        },
      })),
    },
  ];
}
