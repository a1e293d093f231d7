/** Sizes for the long variants: `npm run test:stress` sets HM_STRESS=1. */
export const STRESS = process.env['HM_STRESS'] === '1';

/** `ci` normally, `stress` under `npm run test:stress`. */
export function size(ci: number, stress: number): number {
  return STRESS ? stress : ci;
}
