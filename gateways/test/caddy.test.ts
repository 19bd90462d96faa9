import { describeGateway } from "./helpers/behaviour.js";

describeGateway("caddy");
