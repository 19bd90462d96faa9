import { describeGateway } from "./helpers/behaviour.js";

describeGateway("nginx");
