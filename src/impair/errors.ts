// Errors of the impairment model. Syntax errors name the offending word and where it is.

export class NetemSyntaxError extends Error {
  override readonly name = 'NetemSyntaxError';
  readonly code = 'E_NETEM_SYNTAX' as const;
  constructor(
    readonly detail: string,
    readonly word: string,
    /** 1-based index of the word in the option string. */
    readonly wordIndex: number,
    /** 1-based column of the word's first character. */
    readonly column: number,
  ) {
    super(
      word === ''
        ? `netem: ${detail} (at the end, column ${column})`
        : `netem: ${detail} (word ${wordIndex} "${word}", column ${column})`,
    );
  }
}
