/**
 * The types of a map's BTF, as the core describes them (op `map_btf`).
 *
 * @module
 */

/**
 * A type from a map's BTF, as the core describes it (op `map_btf`).
 * Qualifiers and typedefs are looked through; a typedef's name is kept in
 * `typedef` (the outermost one).
 */
export type BtfType =
  | BtfInt
  | BtfStruct
  | BtfArray
  | BtfEnum
  | {
    readonly kind: "float";
    /** Bytes. */
    readonly size: number;
    /** The type's name, when it has one. */
    readonly name?: string;
    /** The typedef it was reached through, if any. */
    readonly typedef?: string;
  }
  | {
    readonly kind: "ptr";
    /** Bytes. */
    readonly size: number;
    /** The type's name, when it has one. */
    readonly name?: string;
    /** The typedef it was reached through, if any. */
    readonly typedef?: string;
  }
  | {
    readonly kind: "void" | "unknown" | "fwd";
    /** Bytes. */
    readonly size: number;
    /** The type's name, when it has one. */
    readonly name?: string;
    /** The typedef it was reached through, if any. */
    readonly typedef?: string;
  };

/** An integer type of BTF. */
export interface BtfInt {
  /** The BTF kind. */
  readonly kind: "int";
  /** Bytes. */
  readonly size: number;
  /** Bits used. */
  readonly bits: number;
  /** Whether it is signed. */
  readonly signed: boolean;
  /** Whether BTF marks it a char. */
  readonly char: boolean;
  /** Whether BTF marks it a bool. */
  readonly bool: boolean;
  /** The type's name, when it has one. */
  readonly name?: string;
  /** The typedef it was reached through, if any. */
  readonly typedef?: string;
}

/** A struct or union of BTF. */
export interface BtfStruct {
  /** The BTF kind. */
  readonly kind: "struct" | "union";
  /** Bytes. */
  readonly size: number;
  /** The members, in order. */
  readonly members: readonly BtfMember[];
  /** The type's name, when it has one. */
  readonly name?: string;
  /** The typedef it was reached through, if any. */
  readonly typedef?: string;
}

/** A member of a {@linkcode BtfStruct}. */
export interface BtfMember {
  /** Empty for an anonymous struct or union member. */
  readonly name: string;
  /** Offset from the start of the struct, in bits. */
  readonly bitOffset: number;
  /** The width of a bitfield in bits; 0 for other members. */
  readonly bitfieldSize: number;
  /** The member's type. */
  readonly type: BtfType;
}

/** An array of BTF. */
export interface BtfArray {
  /** The BTF kind. */
  readonly kind: "array";
  /** Elements. */
  readonly len: number;
  /** Bytes. */
  readonly size: number;
  /** The element type. */
  readonly elem: BtfType;
  /** The type's name, when it has one. */
  readonly name?: string;
  /** The typedef it was reached through, if any. */
  readonly typedef?: string;
}

/** An enum of BTF (plain or 64-bit); member values are decimal strings. */
export interface BtfEnum {
  /** The BTF kind. */
  readonly kind: "enum";
  /** Bytes. */
  readonly size: number;
  /** Whether it is signed. */
  readonly signed: boolean;
  /** The members: names and decimal values. */
  readonly values: readonly { readonly name: string; readonly value: string }[];
  /** The type's name, when it has one. */
  readonly name?: string;
  /** The typedef it was reached through, if any. */
  readonly typedef?: string;
}
