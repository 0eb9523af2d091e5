// The live feed page: every redemption as HQ stores it.

import { followFeed } from "./feed.js";

followFeed(document.getElementById("feed-list"), document.getElementById("feed-state"));
