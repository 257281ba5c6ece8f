/**
 * `true` when `A` and `B` are the same union: used where the facade spells out a type
 * the core's generated types also define, so the two cannot drift apart.
 */
export type SameUnion<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
