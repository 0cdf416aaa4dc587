/**
 * Checker blocks inside a real_server: TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, UDP_CHECK,
 * DNS_CHECK, SMTP_CHECK, PING_CHECK, FILE_CHECK, BFD_CHECK, with the keywords keepalived
 * 2.2 installs for each (check_api.c install_checker_common_keywords and the check_*.c
 * files) and their messages. Values are kept as written; the inheritance of timers and
 * retries from the real and virtual server happens in the check step.
 */
import { AF_INET6, type InetAddr } from '../../net/addr.js';
import type { DiagnosticList, Loc } from '../diagnostics.js';
import { UINT_MAX } from '../grammar/numbers.js';
import type { Keyword, KeywordContext } from '../grammar/parser.js';
import { readHexString, splitQuotedEscaped } from '../grammar/text.js';
import type { CheckerKind, ScriptSpec } from '../model.js';
import { optionalBool, parseSockAddr, scriptFromRest, timerAt, unsignedAt } from './values.js';

export interface ConnectionDraft {
  /** null after a family clash ("skipping"): the checker cannot connect. */
  dst: InetAddr | null;
  dstPort: number;
  bindTo: InetAddr | null;
  bindPort?: number;
  bindIf?: string;
  connectTimeout?: number;
  fwmark?: number;
}

export interface UrlDraft {
  path?: string;
  digest?: string;
  statusCodes: boolean[];
  virtualhost?: string;
  regex?: string;
  regexNoMatch: boolean;
  regexOptions: string[];
  regexMinOffset: number;
  regexMaxOffset: number;
  loc: Loc;
}

export interface CheckerDraft {
  readonly kind: CheckerKind;
  readonly loc: Loc;
  conn?: ConnectionDraft;
  retry?: number;
  delayBeforeRetry?: number;
  warmup?: number;
  delayLoop?: number;
  alpha?: boolean;
  logAllFailures: boolean;
  /** The checker type's defaults (check_api.c queue_checker and the check_*.c handlers). */
  readonly defaultRetry: number;
  /** 0 = the checker's delay_loop. */
  readonly defaultDelayBeforeRetry: number;
  // HTTP_GET / SSL_GET
  urls: UrlDraft[];
  virtualhost?: string;
  httpProtocol: '1.0' | '1.0C' | '1.1';
  enableSni: boolean;
  fastRecovery: boolean;
  // MISC_CHECK
  script?: ScriptSpec;
  miscTimeout: number;
  miscDynamic: boolean;
  // UDP_CHECK
  payload?: Uint8Array;
  requireReply: boolean;
  replyData?: Uint8Array;
  replyMask?: Uint8Array;
  minReplyLength: number;
  maxReplyLength: number;
  // DNS_CHECK
  dnsType: string;
  dnsName?: string;
  // SMTP_CHECK
  heloName?: string;
  // FILE_CHECK
  trackFile?: string;
  fileWeight?: number;
  fileReverse: boolean;
  // BFD_CHECK
  bfdName?: string;
  /** keepalived dequeued it (a fatal problem in its block, already reported). */
  dropped: boolean;
}

/** What the checker keywords need from the enclosing real server. */
export interface CheckerHost {
  /** The real server the checker belongs to: its address and port as written. */
  realServer(): { addr: InetAddr; port: number; checkers: CheckerDraft[]; loc: Loc } | undefined;
  /** Top-level track_file names (FILE_CHECK refers to them). */
  hasTrackFile(name: string): boolean;
  /** Top-level bfd_instance names. */
  hasBfdInstance(name: string): boolean;
}

const IFNAMSIZ = 16;
const HTTP_STATUS_MIN = 100;
const HTTP_STATUS_MAX = 599;
const IPVS_WEIGHT_LIMIT = 2147483647;
const DNS_TYPES = ['A', 'NS', 'CNAME', 'SOA', 'MX', 'TXT', 'AAAA', 'RRSIG', 'DNSKEY'];
const REGEX_OPTIONS = [
  'allow_empty_class',
  'alt_bsux',
  'auto_callout',
  'caseless',
  'dollar_endonly',
  'dotall',
  'dupnames',
  'extended',
  'firstline',
  'match_unset_backref',
  'multiline',
  'never_ucp',
  'never_utf',
  'no_auto_capture',
  'no_auto_possess',
  'no_dotstar_anchor',
  'no_start_optimize',
  'ucp',
  'ungreedy',
  'utf',
  'never_backslash_c',
  'alt_circumflex',
  'alt_verbnames',
  'use_offset_limit',
];

function newDraft(kind: CheckerKind, loc: Loc, host: CheckerHost, withConn: boolean): CheckerDraft {
  const rs = host.realServer();
  const d: CheckerDraft = {
    kind,
    loc,
    logAllFailures: false,
    defaultRetry: kind === 'MISC_CHECK' ? 0 : kind === 'DNS_CHECK' ? 3 : 1,
    defaultDelayBeforeRetry:
      kind === 'HTTP_GET' || kind === 'SSL_GET' ? 3 : kind === 'DNS_CHECK' ? 0 : 1,
    urls: [],
    httpProtocol: '1.0',
    enableSni: false,
    fastRecovery: false,
    miscTimeout: 0,
    miscDynamic: false,
    requireReply: false,
    minReplyLength: 0,
    maxReplyLength: 255,
    dnsType: 'SOA',
    fileReverse: false,
    dropped: false,
  };
  if (withConn && rs) d.conn = { dst: rs.addr, dstPort: rs.port, bindTo: null };
  return d;
}

export interface CheckerKeywords {
  readonly keywords: Keyword[];
  /** A new real_server starts (keepalived clears its per-server misc_dynamic note). */
  resetRealServer(): void;
}

export function checkerKeywords(host: CheckerHost, diags: DiagnosticList): CheckerKeywords {
  let current: CheckerDraft | null = null;
  let dynamicMiscSeen = false;
  let smtpMainConn: ConnectionDraft | undefined;
  let smtpHosts: ConnectionDraft[] = [];

  const cur = (): CheckerDraft => {
    if (current === null) throw new Error('checker keyword outside a checker');
    return current;
  };
  const start = (kind: CheckerKind, withConn: boolean) => (ctx: KeywordContext) => {
    const rs = host.realServer();
    current = newDraft(kind, ctx.loc, host, withConn);
    rs?.checkers.push(current);
  };
  const conn = (): ConnectionDraft => {
    const c = cur();
    if (!c.conn) c.conn = { dst: null, dstPort: 0, bindTo: null };
    return c.conn;
  };
  /** check_conn_opts(): an IPv6 link-local destination needs bind_if. */
  const checkConn = (c: CheckerDraft, loc: Loc): void => {
    const co = c.conn;
    if (co?.dst && co.dst.af === AF_INET6 && co.dst.w0 >>> 22 === 0x3fa && !co.bindIf) {
      c.dropped = true;
      diagError(loc, `Checker link local address ${co.dst} requires a bind_if`);
    }
  };
  const diagError = (loc: Loc, message: string): void => diags.error(loc, message);

  const connectionKeywords: Keyword[] = [
    {
      name: 'connect_ip',
      handler: (ctx) => {
        const r = parseSockAddr(ctx.word(1));
        const co = conn();
        if (!r.ok) {
          ctx.error(`Invalid connect_ip address ${ctx.words[1]} - ignoring (${r.reason})`);
          return;
        }
        if (co.bindTo && co.bindTo.af !== r.addr.af) {
          ctx.error(
            `connect_ip address ${ctx.words[1]} does not match address family of bindto - skipping`,
          );
          co.dst = null;
          return;
        }
        co.dst = r.addr;
      },
    },
    {
      name: 'connect_port',
      handler: (ctx) => {
        const p = unsignedAt(ctx, 1, 1, 65535, (w) => `Invalid checker connect_port '${w}'`);
        if (p !== undefined) conn().dstPort = p;
      },
    },
    {
      name: 'bindto',
      handler: (ctx) => {
        const r = parseSockAddr(ctx.word(1));
        const co = conn();
        if (!r.ok) {
          ctx.error(`Invalid bindto address ${ctx.words[1]} - ignoring (${r.reason})`);
          return;
        }
        if (co.dst && co.dst.af !== r.addr.af) {
          ctx.error(
            `bindto address ${ctx.words[1]} does not match address family of connect_ip - skipping`,
          );
          co.bindTo = null;
          return;
        }
        co.bindTo = r.addr;
      },
    },
    {
      name: 'bind_port',
      handler: (ctx) => {
        const p = unsignedAt(ctx, 1, 1, 65535, (w) => `Invalid checker bind_port '${w}'`);
        if (p !== undefined) conn().bindPort = p;
      },
    },
    {
      name: 'bind_if',
      handler: (ctx) => {
        const name = ctx.word(1);
        if (name.length > IFNAMSIZ - 1) {
          ctx.error(`Interface name ${name} is too long - ignoring`);
          return;
        }
        conn().bindIf = name;
      },
    },
    {
      name: 'connect_timeout',
      handler: (ctx) => {
        const t = timerAt(ctx, 1, 1, UINT_MAX, (w) => `connect_timeout ${w} invalid - ignoring`);
        if (t !== undefined) conn().connectTimeout = t;
      },
    },
    {
      name: 'fwmark',
      handler: (ctx) => {
        const m = unsignedAt(ctx, 1, 0, UINT_MAX, (w) => `Invalid fwmark connection value '${w}'`);
        if (m !== undefined) conn().fwmark = m;
      },
    },
  ];

  const timingKeywords: Keyword[] = [
    {
      name: 'retry',
      handler: (ctx) => {
        const r = unsignedAt(ctx, 1, 0, UINT_MAX, (w) => `Invalid retry connection value '${w}'`);
        if (r !== undefined) cur().retry = r;
      },
    },
    {
      name: 'delay_before_retry',
      handler: (ctx) => {
        const t = timerAt(
          ctx,
          1,
          0,
          0,
          (w) => `Invalid delay_before_retry connection value '${w}'`,
        );
        if (t !== undefined) cur().delayBeforeRetry = t;
      },
    },
    {
      name: 'warmup',
      handler: (ctx) => {
        const t = timerAt(ctx, 1, 0, 0, (w) => `Invalid warmup connection value '${w}'`);
        if (t !== undefined) cur().warmup = t;
      },
    },
    {
      name: 'delay_loop',
      handler: (ctx) => {
        const t = timerAt(ctx, 1, 1, 0, (w) => `delay_loop '${w}' is invalid - ignoring`);
        if (t !== undefined) cur().delayLoop = t;
      },
    },
    {
      name: 'alpha',
      handler: (ctx) => {
        const b = optionalBool(ctx, (w) => `Invalid alpha parameter ${w}`);
        if (b !== undefined) cur().alpha = b;
      },
    },
    {
      name: 'log_all_failures',
      handler: (ctx) => {
        const b = optionalBool(ctx, (w) => `Invalid log_all_failures parameter ${w}`);
        if (b !== undefined) cur().logAllFailures = b;
      },
    },
  ];
  const common = (withConnection: boolean): Keyword[] =>
    withConnection ? [...connectionKeywords, ...timingKeywords] : timingKeywords;
  const closeConn = (loc: Loc) => checkConn(cur(), loc);

  const httpKeywords = (kind: 'HTTP_GET' | 'SSL_GET'): Keyword => ({
    name: kind,
    handler: start(kind, true),
    sub: [
      ...common(true),
      {
        name: 'nb_get_retry',
        handler: (ctx) => {
          ctx.warning("nb_get_retry is deprecated - please use 'retry'");
          const r = unsignedAt(ctx, 1, 0, UINT_MAX, (w) => `Invalid nb_get_retry value '${w}'`);
          if (r !== undefined) cur().retry = r;
        },
      },
      {
        name: 'virtualhost',
        handler: (ctx) => {
          if (ctx.words.length < 2) {
            ctx.error('HTTP_GET virtualhost name missing');
            return;
          }
          cur().virtualhost = ctx.words[1];
        },
      },
      {
        name: 'http_protocol',
        handler: (ctx) => {
          if (ctx.words.length < 2) {
            ctx.error('Missing http_protocol version');
            return;
          }
          const v = ctx.words[1];
          if (v === '1.0' || v === '1.1') cur().httpProtocol = v;
          else if (v === '1.0C' || v === '1.0c') cur().httpProtocol = '1.0C';
          else ctx.error(`Invalid http_protocol version ${v}`);
        },
      },
      {
        name: 'enable_sni',
        handler: (ctx) => {
          const b = optionalBool(ctx, (w) => `Invalid enable_sni parameter ${w}`);
          if (b !== undefined) cur().enableSni = b;
        },
      },
      {
        name: 'fast_recovery',
        handler: (ctx) => {
          const b = optionalBool(ctx, (w) => `Invalid fast_recovery parameter ${w}`);
          if (b !== undefined) cur().fastRecovery = b;
        },
      },
      {
        name: 'url',
        handler: (ctx) => {
          cur().urls.push({
            statusCodes: [],
            regexNoMatch: false,
            regexOptions: [],
            regexMinOffset: 0,
            regexMaxOffset: 0,
            loc: ctx.loc,
          });
        },
        sub: urlKeywords(() => {
          const u = cur().urls;
          return u[u.length - 1];
        }),
        onClose: (loc) => {
          const c = cur();
          const u = c.urls[c.urls.length - 1];
          if (u.path === undefined) {
            diagError(loc, 'HTTP/SSL_GET checker url has no path - ignoring');
            c.urls.pop();
            return;
          }
          if (!u.statusCodes.some(Boolean)) {
            for (let s = 200; s <= 299; s++) u.statusCodes[s] = true;
          }
          if (
            u.regex === undefined &&
            (u.regexOptions.length > 0 || u.regexNoMatch || u.regexMinOffset || u.regexMaxOffset)
          ) {
            diags.uvsOnly(
              'warning',
              loc,
              'regex parameters specified without regex - ignoring them',
            );
            u.regexOptions = [];
            u.regexNoMatch = false;
            u.regexMinOffset = 0;
            u.regexMaxOffset = 0;
          }
          if (u.regexMaxOffset && u.regexMinOffset >= u.regexMaxOffset) {
            diags.uvsOnly(
              'warning',
              loc,
              `regex min offset ${u.regexMinOffset} > regex_max_offset ${u.regexMaxOffset - 1} - ignoring`,
            );
            u.regexMinOffset = 0;
            u.regexMaxOffset = 0;
          }
        },
      },
    ],
    onClose: (loc) => {
      const c = cur();
      if (c.urls.length === 0) {
        diagError(loc, 'HTTP/SSL_GET checker has no urls specified - ignoring');
        c.dropped = true;
      }
      checkConn(c, loc);
    },
  });

  const keywords: Keyword[] = [
    {
      name: 'MISC_CHECK',
      handler: (ctx) => {
        start('MISC_CHECK', false)(ctx);
      },
      sub: [
        ...common(false),
        {
          name: 'misc_path',
          handler: (ctx) => {
            const s = scriptFromRest(ctx, 'misc_path');
            const c = cur();
            if (s)
              c.script = {
                ...s,
                ...(c.script?.user ? { user: c.script.user } : {}),
                ...(c.script?.group ? { group: c.script.group } : {}),
              };
          },
        },
        {
          name: 'misc_timeout',
          handler: (ctx) => {
            const t = unsignedAt(
              ctx,
              1,
              0,
              Math.floor(UINT_MAX / 1_000_000),
              (w) => `Invalid misc_timeout value '${w}'`,
            );
            if (t !== undefined) cur().miscTimeout = t;
          },
        },
        {
          name: 'misc_dynamic',
          handler: (ctx) => {
            cur().miscDynamic = true;
            if (dynamicMiscSeen) {
              ctx.warning(
                'Warning - more than one dynamic misc checker per real server will cause problems',
              );
            }
            dynamicMiscSeen = true;
          },
        },
        {
          name: 'user',
          handler: (ctx) => {
            const c = cur();
            if (ctx.words.length < 2) {
              ctx.error(
                `No user specified for misc checker script ${c.script?.args.join(' ') ?? ''}`,
              );
              return;
            }
            if (c.script) {
              c.script = {
                ...c.script,
                user: ctx.words[1],
                ...(ctx.words[2] !== undefined ? { group: ctx.words[2] } : {}),
              };
            } else {
              c.script = { args: [], user: ctx.words[1], loc: ctx.loc };
            }
          },
        },
      ],
      onClose: (loc) => {
        const c = cur();
        if (!c.script || c.script.args.length === 0) {
          diagError(loc, 'No script path has been specified for MISC_CHECKER - skipping');
          c.dropped = true;
        }
      },
    },
    {
      name: 'SMTP_CHECK',
      handler: (ctx) => {
        start('SMTP_CHECK', true)(ctx);
        smtpHosts = [];
        smtpMainConn = undefined;
      },
      sub: [
        {
          name: 'helo_name',
          handler: (ctx) => {
            if (ctx.words.length < 2) {
              ctx.error('SMTP_CHECK helo name missing');
              return;
            }
            cur().heloName = ctx.words[1];
          },
        },
        ...common(true),
        {
          name: 'host',
          // Deprecated: each host { } block is one more checker with its own connection.
          handler: () => {
            const c = cur();
            smtpMainConn = c.conn;
            c.conn = { ...(c.conn ?? { dst: null, dstPort: 0, bindTo: null }) };
          },
          sub: common(true),
          onClose: () => {
            const c = cur();
            if (c.conn) smtpHosts.push(c.conn);
            c.conn = smtpMainConn;
          },
        },
      ],
      onClose: (loc) => {
        const c = cur();
        if (c.heloName === undefined) c.heloName = 'smtpchecker.keepalived.org';
        checkConn(c, loc);
        const rs = host.realServer();
        for (const h of smtpHosts) {
          const extra: CheckerDraft = { ...c, conn: h, urls: [] };
          checkConn(extra, loc);
          rs?.checkers.push(extra);
        }
        smtpHosts = [];
      },
    },
    {
      name: 'TCP_CHECK',
      handler: start('TCP_CHECK', true),
      sub: common(true),
      onClose: closeConn,
    },
    {
      name: 'PING_CHECK',
      handler: start('PING_CHECK', true),
      sub: common(true),
      onClose: closeConn,
    },
    {
      name: 'UDP_CHECK',
      handler: start('UDP_CHECK', true),
      sub: [
        ...common(true),
        {
          name: 'payload',
          handler: (ctx) => {
            if (ctx.words.length === 1) {
              ctx.error('UDP_CHECK payload requires a payload');
              return;
            }
            const h = readHexString(ctx.words.slice(1).join(' '), false);
            if (h === null) ctx.error('Invalid hex string for UDP_CHECK payload');
            else cur().payload = h.data;
          },
        },
        {
          name: 'require_reply',
          handler: (ctx) => {
            const c = cur();
            c.requireReply = true;
            if (ctx.words.length === 1) return;
            const h = readHexString(ctx.words.slice(1).join(' '), true);
            if (h === null) {
              ctx.error('Invalid hex string for UDP_CHECK reply');
              return;
            }
            c.replyData = h.data;
            if (h.mask) c.replyMask = h.mask;
          },
        },
        {
          name: 'min_reply_length',
          handler: (ctx) => {
            const v = unsignedAt(
              ctx,
              1,
              0,
              65535,
              (w) => `UDP_CHECK min length ${w} not valid - must be between 0 & 65535`,
            );
            if (v !== undefined) cur().minReplyLength = v;
          },
        },
        {
          name: 'max_reply_length',
          handler: (ctx) => {
            const v = unsignedAt(
              ctx,
              1,
              0,
              65535,
              (w) => `UDP_CHECK max length ${w} not valid - must be between 0 & 65535`,
            );
            if (v !== undefined) cur().maxReplyLength = v;
          },
        },
      ],
      onClose: (loc) => {
        const c = cur();
        checkConn(c, loc);
        if (c.minReplyLength > c.maxReplyLength) {
          diagError(
            loc,
            `UDP_CHECK min_reply length ${c.minReplyLength} > max_reply_length ${c.maxReplyLength} - will always fail`,
          );
        }
      },
    },
    httpKeywords('HTTP_GET'),
    httpKeywords('SSL_GET'),
    {
      name: 'DNS_CHECK',
      handler: start('DNS_CHECK', true),
      sub: [
        ...common(true),
        {
          name: 'type',
          handler: (ctx) => {
            const t = ctx.word(1).toUpperCase();
            if (!DNS_TYPES.includes(t))
              ctx.error(`Unknown DNS check type ${ctx.words[1]} - ignoring`);
            else cur().dnsType = t;
          },
        },
        {
          name: 'name',
          handler: (ctx) => {
            const c = cur();
            if (c.dnsName !== undefined) {
              ctx.error('DNS_CHECK name already specified - ignoring');
              return;
            }
            const name = ctx.word(1);
            const invalid = (name[0] === '.' && name.length > 1) || name.includes('..');
            if (invalid) {
              ctx.error(`DNS_CHECK name '${name}' has empty label - ignoring`);
              return;
            }
            c.dnsName = name;
          },
        },
      ],
      onClose: (loc) => {
        const c = cur();
        checkConn(c, loc);
        if (c.dnsName === undefined) c.dnsName = '.';
      },
    },
    {
      name: 'FILE_CHECK',
      handler: start('FILE_CHECK', false),
      sub: [
        {
          name: 'track_file',
          handler: (ctx) => {
            const name = ctx.word(1);
            if (!host.hasTrackFile(name)) {
              ctx.error(`track_file ${name} not found`);
              return;
            }
            cur().trackFile = name;
          },
        },
        {
          name: 'weight',
          handler: (ctx) => {
            if (ctx.words.length < 2) {
              ctx.error('track file weight missing');
              return;
            }
            const w = ctx.words[1];
            const n = /^[+-]?\d+$/.test(w) ? Number(w) : Number.NaN;
            if (!(n >= -IPVS_WEIGHT_LIMIT && n <= IPVS_WEIGHT_LIMIT)) {
              ctx.error(
                `weight for track file must be in [${-IPVS_WEIGHT_LIMIT}..${IPVS_WEIGHT_LIMIT}] inclusive. Ignoring...`,
              );
              return;
            }
            let reverse = false;
            if (ctx.words.length >= 3) {
              if (ctx.words[2] === 'reverse') reverse = true;
              else if (ctx.words[2] !== 'noreverse') {
                ctx.error(`unknown track file weight option ${ctx.words[2]} - ignoring`);
                return;
              }
            }
            const c = cur();
            c.fileWeight = n;
            c.fileReverse = reverse;
          },
        },
      ],
      onClose: (loc) => {
        const c = cur();
        if (c.trackFile === undefined) {
          diagError(loc, 'FILE_CHECK has no track_file specified - ignoring');
          c.dropped = true;
        }
      },
    },
    {
      name: 'BFD_CHECK',
      handler: start('BFD_CHECK', false),
      sub: [
        {
          name: 'name',
          handler: (ctx) => {
            const c = cur();
            const rs = host.realServer();
            const label = rs ? `${rs.addr}` : '';
            if (ctx.words.length !== 2) {
              ctx.error(`(${label}) BFD_CHECK - No or too many names specified - skipping checker`);
              c.dropped = true;
              return;
            }
            const name = ctx.words[1];
            if (!host.hasBfdInstance(name)) {
              ctx.error(`(${label}) BFD_CHECK - BFD ${name} not configured`);
              c.dropped = true;
              return;
            }
            if (c.bfdName !== undefined) {
              ctx.error(`(${label}) BFD_CHECK - BFD ${name} already specified as ${c.bfdName}`);
              return;
            }
            c.bfdName = name;
          },
        },
        ...timingKeywords.filter((k) => k.name === 'alpha'),
      ],
      onClose: (loc) => {
        const c = cur();
        if (c.bfdName === undefined && !c.dropped) {
          diagError(loc, 'No name has been specified for BFD_CHECKER - skipping');
          c.dropped = true;
        }
      },
    },
  ];
  return {
    keywords,
    resetRealServer() {
      dynamicMiscSeen = false;
      current = null;
    },
  };
}

function urlKeywords(url: () => UrlDraft): Keyword[] {
  return [
    {
      name: 'path',
      handler: (ctx) => {
        url().path = ctx.word(1);
      },
    },
    {
      name: 'digest',
      handler: (ctx) => {
        const d = ctx.word(1);
        const u = url();
        if (u.digest !== undefined) {
          ctx.error(`Digest '${d}' is a duplicate`);
          return;
        }
        if (d.length !== 32) {
          ctx.error(`digest '${d}' character length should be 32 rather than ${d.length}`);
          return;
        }
        const bad = d.search(/[^0-9a-fA-F]/);
        if (bad >= 0) {
          const pair = bad - (bad % 2);
          ctx.error(`Unable to interpret hex digit in '${d}' at offset ${pair}/${pair + 1}`);
          return;
        }
        u.digest = d.toLowerCase();
      },
    },
    {
      name: 'status_code',
      handler: (ctx) => {
        const u = url();
        for (const s of ctx.words.slice(1)) {
          const m = /^(\d+)(?:-(\d+))?$/.exec(s);
          const min = m ? Number(m[1]) : Number.NaN;
          const max = m ? Number(m[2] ?? m[1]) : Number.NaN;
          if (
            !m ||
            min < HTTP_STATUS_MIN ||
            min > HTTP_STATUS_MAX ||
            max < HTTP_STATUS_MIN ||
            max > HTTP_STATUS_MAX ||
            min > max
          ) {
            ctx.error(`Invalid HTTP_GET status code '${s}'`);
            continue;
          }
          for (let c = min; c <= max; c++) u.statusCodes[c] = true;
        }
      },
    },
    {
      name: 'virtualhost',
      handler: (ctx) => {
        if (ctx.words.length < 2) {
          ctx.error('Missing HTTP_GET virtualhost name');
          return;
        }
        url().virtualhost = ctx.words[1];
      },
    },
    {
      name: 'regex',
      handler: (ctx) => {
        const q = splitQuotedEscaped(ctx.text);
        if (!q.ok || q.words.length !== 2) {
          ctx.parser.diags.uvsOnly('error', ctx.loc, 'regex missing or too many fields');
          return;
        }
        try {
          new RegExp(q.words[1]);
        } catch (e) {
          ctx.parser.diags.uvsOnly(
            'error',
            ctx.loc,
            `Invalid regex: '${q.words[1]}': ${(e as Error).message}`,
          );
          return;
        }
        url().regex = q.words[1];
      },
    },
    {
      name: 'regex_no_match',
      handler: () => {
        url().regexNoMatch = true;
      },
    },
    {
      name: 'regex_options',
      handler: (ctx) => {
        const u = url();
        for (const o of ctx.words.slice(1)) {
          if (REGEX_OPTIONS.includes(o)) u.regexOptions.push(o);
          else ctx.parser.diags.uvsOnly('warning', ctx.loc, `unknown regex option '${o}' ignored`);
        }
      },
    },
    {
      name: 'regex_min_offset',
      handler: (ctx) => {
        const v = regexOffset(ctx, 'min');
        if (v !== undefined) url().regexMinOffset = v;
      },
    },
    {
      name: 'regex_max_offset',
      handler: (ctx) => {
        const v = regexOffset(ctx, 'max');
        if (v !== undefined) url().regexMaxOffset = v + 1;
      },
    },
    {
      name: 'regex_stack',
      handler: (ctx) => {
        if (ctx.words.length !== 3) {
          ctx.error('regex_stack requires start and max values');
          return;
        }
        const [a, b] = [ctx.words[1], ctx.words[2]];
        if (!/^\d+$/.test(a)) ctx.error('regex_stack invalid start value');
        else if (!/^\d+$/.test(b)) ctx.error('regex_stack invalid max value');
        else if (Number(a) > Number(b)) ctx.error('regex stack start cannot exceed max value');
      },
    },
  ];
}

function regexOffset(ctx: KeywordContext, which: 'min' | 'max'): number | undefined {
  if (ctx.words.length !== 2) {
    ctx.error(`Missing or too may options for regex_${which}_offset`);
    return undefined;
  }
  if (!/^\d+$/.test(ctx.words[1])) {
    ctx.error(`Invalid regex_${which}_offset ${ctx.words[1]} specified`);
    return undefined;
  }
  return Number(ctx.words[1]);
}
