// Dependency-free PNG loss curves for model cards.

export {
  type LossCurveOptions,
  type LossSeries,
  renderLossCurves,
  writeLossCurvePng,
} from "./loss-curve.js";
export { encodePng } from "./png.js";
