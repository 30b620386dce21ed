import * as echarts from 'echarts';
import sharp from 'sharp';

/**
 * Server-side chart rendering: ECharts renders to an SVG string without a DOM (its SSR
 * mode), sharp rasterises the SVG to PNG. No browser, no canvas native module.
 */
export async function renderChartPng(option: echarts.EChartsOption, width: number, height: number): Promise<Buffer> {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    chart.setOption({ animation: false, backgroundColor: '#ffffff', ...option });
    const svg = chart.renderToSVGString();
    return await sharp(Buffer.from(svg)).png().toBuffer();
  } finally {
    chart.dispose();
  }
}
