export function OverviewPage(_: { params: URLSearchParams }) {
  return <h1>Overview</h1>;
}
