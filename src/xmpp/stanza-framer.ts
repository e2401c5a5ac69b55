// Cuts the component stream's text into top-level stanzas, so a stanza can be claimed from its text
// (publish-scanner.ts) before the stream parser builds it into elements. Everything else it reads (the
// stream header, the stream's end) is passed on unchanged, in order, for the stream parser, but for
// the text between stanzas (keepalive whitespace), which means nothing; a stanza nobody claims is
// passed on the same way. So the parser sees the text it always saw, minus the stanzas claimed whole
// and the space between stanzas.
//
// A stanza is only handed out when we are sure the parser would see it as one, starting where the
// parser is between stanzas. So the framer accepts a strict subset of XML (names, quoted attributes,
// text, CDATA, matching end tags) and, on anything else (a construct the parser reads differently
// from XML, a mismatched end tag, a comment, a processing instruction after the header, the stream's
// end), stops framing for the rest of the connection and passes all text through: the parser then
// judges it as before.
//
// It reads each character once, whatever the reads' sizes (a character-level state machine, with
// indexOf over text and attribute values), so a stanza trickled in tiny reads costs no more than one
// read at once. No library frames XML text without parsing it into events, hence our own.

/** Receives the stream's text in order; `stanza` when it is one whole top-level stanza. Returns false to stop. */
export type FramedTextSink = (text: string, stanza: boolean) => boolean;

export interface StanzaFramer {
  write(text: string, sink: FramedTextSink): void;
  /** Characters held back: the start of a stanza whose end has not arrived yet. */
  readonly pendingLength: number;
  /** That text (joined on demand). */
  pendingText(): string;
  /** True once the framer has stopped framing (everything now passes through). */
  readonly passingThrough: boolean;
}

// What we are reading.
const enum S {
  Prolog, // before the stream header: space, the XML declaration, then the header's start tag
  PrologLt, // read "<" there
  PrologPi, // inside <?xml … ?>
  Between, // in the stream, between stanzas (text passes on)
  BetweenLt, // read "<" between stanzas: a stanza starts, or framing ends
  Text, // in a stanza, character data
  Lt, // in a stanza, read "<"
  StartName,
  InTag, // after the name or an attribute: space, an attribute, "/" or ">"
  AttrName,
  AfterAttrName, // space before "="
  AfterEq, // space before the quote
  AttrValue,
  SelfClose, // read "/" in a start tag: ">" must follow
  EndName,
  AfterEndName, // space before ">"
  CdataOpen, // matching "<![CDATA["
  Cdata,
  Through, // not framing any more
}

const MAX_NAME = 256;
const MAX_PROLOG = 64 * 1024;
const CDATA_OPEN = "<![CDATA[";

// Character codes, here and not imported from a module shared with the other XML reader: imported
// bindings in these per-character loops made framing and scanning a publish ~15 % slower (measured).
const GT = 62; // >
const LT = 60; // <
const SLASH = 47; // /
const EQ = 61; // =
const QUOT = 34; // "
const APOS = 39; // '
const BANG = 33; // !
const QUESTION = 63; // ?
const RSQB = 93; // ]

const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13;
/** Name characters: anything printable that does not end a name or a tag (the parser's own rule, made strict). */
const isNameChar = (c: number) =>
  c > 32 && c !== GT && c !== LT && c !== SLASH && c !== EQ && c !== QUOT && c !== APOS && c !== BANG && c !== QUESTION && c !== 127;

export function createStanzaFramer(): StanzaFramer {
  let state = S.Prolog;
  // The text held back (the prolog, or the current stanza's reads before this one), and its length.
  let held: string[] = [];
  let heldLength = 0;
  // In the stream header's start tag (read in the prolog) rather than a stanza's.
  let inHeader = false;
  // Open elements of the current stanza, by name; the name being read.
  const open: string[] = [];
  let name = "";
  let endMatched = 0; // characters of an end tag's name matched against the open element's
  let quote = 0; // the attribute value's quote
  let spaced = false; // space read since the tag's name or last attribute value
  let brackets = 0; // "]" read in a row inside CDATA; characters of "<![CDATA[" matched
  let lastPrologChar = 0; // for the end of <? … ?>

  const inProlog = () => state === S.Prolog || state === S.PrologLt || state === S.PrologPi || inHeader;
  const hold = (text: string) => {
    if (text === "") return;
    held.push(text);
    heldLength += text.length;
  };
  const takeHeld = (rest: string) => {
    const text = held.length === 0 ? rest : held.join("") + rest;
    held = [];
    heldLength = 0;
    return text;
  };

  return {
    get pendingLength() {
      return inProlog() ? 0 : heldLength;
    },
    pendingText() {
      return held.join("");
    },
    get passingThrough() {
      return state === S.Through;
    },
    write(text, sink) {
      if (state === S.Through) {
        sink(text, false);
        return;
      }
      // `from`: where the text not yet passed on or held begins in this read.
      let from = 0;
      const stop = (): void => {
        state = S.Through;
        const rest = takeHeld(text.slice(from));
        if (rest !== "") sink(rest, false);
      };
      const n = text.length;
      let i = 0;
      while (i < n) {
        switch (state) {
          case S.Prolog: {
            const c = text.charCodeAt(i++);
            if (c === LT) state = S.PrologLt;
            else if (!isSpace(c)) return stop();
            break;
          }
          case S.PrologLt: {
            const c = text.charCodeAt(i);
            if (c === QUESTION) {
              state = S.PrologPi;
              lastPrologChar = 0;
              i++;
            } else if (isNameChar(c)) {
              state = S.StartName;
              inHeader = true;
              name = "";
            } else return stop();
            break;
          }
          case S.PrologPi: {
            const c = text.charCodeAt(i++);
            if (c === GT && lastPrologChar === QUESTION) state = S.Prolog;
            lastPrologChar = c;
            break;
          }
          case S.Between: {
            const lt = text.indexOf("<", i);
            if (lt === -1) {
              i = n;
              break;
            }
            // Text between stanzas (keepalive space) means nothing, and is dropped: passed on, it would
            // sit in the parser's buffer until the parser next sees a "<", which may be never once
            // every stanza is claimed. (The parser would add it to the stream's root, where the stream
            // guard drops it anyway.)
            from = lt;
            state = S.BetweenLt;
            i = lt + 1;
            break;
          }
          case S.BetweenLt: {
            const c = text.charCodeAt(i);
            // An end tag (the stream's), a comment, a PI or a DTD: the parser's to judge.
            if (!isNameChar(c)) return stop();
            state = S.StartName;
            name = "";
            break;
          }
          case S.Text: {
            const lt = text.indexOf("<", i);
            if (lt === -1) {
              i = n;
              break;
            }
            state = S.Lt;
            i = lt + 1;
            break;
          }
          case S.Lt: {
            const c = text.charCodeAt(i);
            if (c === SLASH) {
              state = S.EndName;
              endMatched = 0;
              i++;
            } else if (c === BANG) {
              state = S.CdataOpen;
              brackets = 2; // "<!" matched
              i++;
            } else if (isNameChar(c)) {
              state = S.StartName;
              name = "";
            } else return stop();
            break;
          }
          case S.StartName: {
            const start = i;
            while (i < n && isNameChar(text.charCodeAt(i))) i++;
            name += text.slice(start, i);
            if (name.length > MAX_NAME) return stop();
            if (i < n) {
              state = S.InTag;
              spaced = false;
            }
            break;
          }
          case S.InTag: {
            const c = text.charCodeAt(i);
            if (isSpace(c)) {
              spaced = true;
              i++;
            } else if (spaced && isNameChar(c)) {
              // An attribute: XML wants space before each.
              spaced = false;
              state = S.AttrName;
            } else if (c === GT) {
              i++;
              if (inHeader) {
                // The stream is open: what was held (the prolog and header) goes to the parser.
                inHeader = false;
                state = S.Between;
                const header = takeHeld(text.slice(from, i));
                from = i;
                if (!sink(header, false)) return;
              } else {
                open.push(name);
                state = S.Text;
              }
            } else if (c === SLASH) {
              state = S.SelfClose;
              i++;
            } else return stop();
            break;
          }
          case S.AttrName: {
            while (i < n && isNameChar(text.charCodeAt(i))) i++;
            if (i < n) state = S.AfterAttrName;
            break;
          }
          case S.AfterAttrName: {
            const c = text.charCodeAt(i++);
            if (c === EQ) state = S.AfterEq;
            else if (!isSpace(c)) return stop();
            break;
          }
          case S.AfterEq: {
            const c = text.charCodeAt(i++);
            if (c === QUOT || c === APOS) {
              quote = c;
              state = S.AttrValue;
            } else if (!isSpace(c)) return stop();
            break;
          }
          case S.AttrValue: {
            const close = text.indexOf(quote === QUOT ? '"' : "'", i);
            if (close === -1) {
              i = n;
              break;
            }
            i = close + 1;
            state = S.InTag;
            spaced = false;
            break;
          }
          case S.SelfClose: {
            if (text.charCodeAt(i++) !== GT) return stop();
            if (inHeader) return stop(); // a stream that ends as it opens is the parser's to judge
            if (open.length === 0) {
              // The stanza itself was empty: <presence …/>.
              const stanza = takeHeld(text.slice(from, i));
              from = i;
              state = S.Between;
              if (!sink(stanza, true)) return;
            } else state = S.Text;
            break;
          }
          case S.EndName: {
            const expected = open[open.length - 1];
            if (expected === undefined) return stop();
            while (i < n && isNameChar(text.charCodeAt(i))) {
              // A mismatched end tag is the parser's to refuse (bad-format): framing on would hold the stream.
              if (endMatched >= expected.length || text.charCodeAt(i) !== expected.charCodeAt(endMatched)) return stop();
              endMatched++;
              i++;
            }
            if (i < n) {
              if (endMatched !== expected.length) return stop();
              state = S.AfterEndName;
            }
            break;
          }
          case S.AfterEndName: {
            const c = text.charCodeAt(i++);
            if (isSpace(c)) break;
            if (c !== GT) return stop();
            open.pop();
            if (open.length > 0) {
              state = S.Text;
              break;
            }
            const stanza = takeHeld(text.slice(from, i));
            from = i;
            state = S.Between;
            if (!sink(stanza, true)) return;
            break;
          }
          case S.CdataOpen: {
            if (text.charCodeAt(i++) !== CDATA_OPEN.charCodeAt(brackets)) return stop();
            if (++brackets === CDATA_OPEN.length) {
              state = S.Cdata;
              brackets = 0;
            }
            break;
          }
          case S.Cdata: {
            const c = text.charCodeAt(i++);
            if (c === GT && brackets >= 2) state = S.Text;
            else if (c === RSQB) brackets++;
            else {
              brackets = 0;
              // Skip to the next "]".
              const next = text.indexOf("]", i);
              i = next === -1 ? n : next;
            }
            break;
          }
        }
      }
      // The end of this read: text between stanzas passes on; a stanza, the prolog, or a "<" whose
      // meaning the next read decides, is held.
      if (state === S.Between) return;
      hold(text.slice(from));
      if (inProlog() && heldLength > MAX_PROLOG) {
        // A header that never ends is not one: let the parser judge it.
        state = S.Through;
        sink(takeHeld(""), false);
      }
    },
  };
}
