/**
 * `WWW-Authenticate` challenges (RFC 7235) as registries send them:
 *   Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"
 *   Basic realm="Registry Realm"
 */
export interface Challenge {
  scheme: string; // lowercase: "bearer", "basic"
  params: Record<string, string>;
}

export function parseChallenges(header: string | undefined): Challenge[] {
  if (header === undefined) return [];
  const challenges: Challenge[] = [];
  let i = 0;
  const s = header;
  const skipSpace = () => {
    while (i < s.length && (s[i] === " " || s[i] === "\t")) i++;
  };
  while (i < s.length) {
    skipSpace();
    const schemeMatch = /^[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*/.exec(s.slice(i));
    if (!schemeMatch) break;
    const challenge: Challenge = { scheme: schemeMatch[0].toLowerCase(), params: {} };
    i += schemeMatch[0].length;
    challenges.push(challenge);
    for (;;) {
      skipSpace();
      const paramMatch = /^([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*/.exec(s.slice(i));
      if (!paramMatch) break;
      // A token followed by "=" could also be the next challenge's scheme with a token68; registries don't send those.
      i += paramMatch[0].length;
      let value = "";
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === "\\" && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        i++; // closing quote
      } else {
        const m = /^[^,\s]*/.exec(s.slice(i));
        value = m ? m[0] : "";
        i += value.length;
      }
      challenge.params[(paramMatch[1] ?? "").toLowerCase()] = value;
      skipSpace();
      if (s[i] === ",") {
        i++;
        continue;
      }
      break;
    }
    skipSpace();
    if (s[i] === ",") i++;
  }
  return challenges;
}
