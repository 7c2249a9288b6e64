// What an implementation's Dockerfile (`build: .` in a manifest) may start from: the lab's base (`FROM ${BASE}`, built
// with --build-arg BASE=udplab/python:local), `scratch`, and its own earlier stages — not another image of the host
// (another student's `udplab-impl/<label>:local`: FROM it, or COPY --from it, or a RUN --mount from it, would take
// that student's program into this one's image). One error at the Dockerfile's file:line:col.

export interface DockerfileRefusal {
  line: number;
  col: number;
  message: string;
}

const BASE = new Set(['${base}', '$base', 'scratch']);

/** The first instruction that names an image other than the base or an earlier stage, or undefined. */
export function dockerfileRefusal(text: string): DockerfileRefusal | undefined {
  const lines = text.split(/\r?\n/);
  // a parser directive `# escape=`` ` changes the line-continuation character (it must come first)
  let cont = '\\';
  for (const l of lines) {
    const d = /^#\s*escape\s*=\s*(\S)\s*$/i.exec(l);
    if (d) cont = d[1]!;
    else if (!/^#\s*\w+\s*=/.test(l)) break;
  }
  const stages: string[] = []; // names (AS …) of the stages so far, '' for an unnamed one
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]!;
    if (/^\s*(#|$)/.test(first)) continue;
    let instr = first;
    const at = i;
    while (instr.trimEnd().endsWith(cont) && i + 1 < lines.length) {
      instr = `${instr.trimEnd().slice(0, -1)} ${lines[++i]!}`;
      while (i + 1 < lines.length && /^\s*#/.test(lines[i]!)) i++; // comments inside a continued instruction
    }
    const words = instr.trim().split(/\s+/);
    const keyword = words[0]!.toUpperCase();
    const refuse = (word: string, why: string): DockerfileRefusal => ({
      line: at + 1,
      col: Math.max(first.indexOf(word), 0) + 1,
      message: `${keyword} ${word}: ${why}`,
    });
    const FROM_ONLY =
      "an implementation's image is built FROM ${BASE} (the lab's base), scratch, or its own earlier stages";
    if (keyword === 'FROM') {
      const args = words.slice(1).filter((w) => !w.startsWith('--'));
      const image = args[0] ?? '';
      const known = BASE.has(image.toLowerCase()) || (image !== '' && stages.includes(image.toLowerCase()));
      if (!known) return refuse(image, FROM_ONLY);
      if (args[1]?.toUpperCase() === 'AS' && args[2]) stages.push(args[2].toLowerCase());
      else stages.push('');
    } else if (keyword === 'COPY' || keyword === 'ADD' || keyword === 'RUN') {
      for (const w of words.slice(1)) {
        if (!w.startsWith('--')) break; // flags come first
        const from = /^--from=(.*)$/i.exec(w)?.[1] ?? /^--mount=.*\bfrom=([^,]*)/i.exec(w)?.[1];
        if (from === undefined) continue;
        const stage = from.toLowerCase();
        const index = /^\d+$/.test(stage) && Number(stage) < stages.length;
        if (!index && !(stage !== '' && stages.includes(stage)) && !BASE.has(stage))
          return refuse(
            w,
            `${FROM_ONLY}; it may copy from those only (another image could hold another implementation's program)`,
          );
      }
    }
  }
  return undefined;
}
