import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Series {
  label: string;
  color: string;
  values: number[];
  bars?: boolean;
}

/**
 * A uPlot time chart. Canvas is not read by screen readers: the chart is an image with a summary for a
 * name, and every number it draws is in the table the page shows beside it.
 */
export function TimeChart({
  title,
  times,
  series,
  summary,
}: {
  title: string;
  times: number[];
  series: Series[];
  summary: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const bars = uPlot.paths.bars?.({ size: [0.6, 40] });
    const plot = new uPlot(
      {
        width: el.clientWidth,
        height: 220,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true } },
        axes: [{}, { size: 60 }],
        series: [
          {},
          ...series.map((s) => ({
            label: s.label,
            stroke: s.color,
            width: 2,
            ...(s.bars && bars ? { paths: bars, fill: s.color } : {}),
          })),
        ],
      },
      [times.map((t) => t / 1000), ...series.map((s) => s.values)],
      el,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: el.clientWidth, height: 220 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [times, series]);
  return (
    <figure class="chart">
      <figcaption>
        <strong>{title}</strong>
        <ul class="legend">
          {series.map((s) => (
            <li key={s.label}>
              <span
                class="swatch"
                data-color={s.color}
                ref={(el) => el?.style.setProperty("background", s.color)}
              />
              {s.label}
            </li>
          ))}
        </ul>
      </figcaption>
      <div ref={box} role="img" aria-label={`${title}: ${summary}`} />
    </figure>
  );
}
